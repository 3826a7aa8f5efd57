package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Device tokens (OWASP's device-cookie design against lockout as a
// weapon): a browser that has signed in fully as a user holds a signed
// token naming that account and a random device id. At login, a valid
// token for the account named spends the device's own budget instead of
// the account's budgets (all clients, and per client IP), so an attacker
// who guesses from many addresses cannot lock the owner out; every
// client without one stays limited as before. A token that is tampered
// with, made under another key, for another account or expired counts as
// no token at all.

// DefaultDeviceTTL is how long a device token stays valid; each full
// sign-in renews it.
const DefaultDeviceTTL = 180 * 24 * time.Hour

// deviceClaims is what a device token says (its JSON form is signed).
type deviceClaims struct {
	UserID  string `json:"u"`
	Email   string `json:"e"` // the account key it was issued for
	Device  string `json:"d"`
	Expires int64  `json:"x"` // Unix seconds
}

type deviceKey struct{}

// WithDeviceToken returns ctx carrying the device token the client sent
// (the graph layer reads it from its cookie).
func WithDeviceToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return context.WithValue(ctx, deviceKey{}, token)
}

func deviceToken(ctx context.Context) string {
	t, _ := ctx.Value(deviceKey{}).(string)
	return t
}

// signDevice makes the token of c: base64url(JSON) "." base64url(HMAC).
func (s *Service) signDevice(c deviceClaims) string {
	body, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.deviceMAC(payload))
}

func (s *Service) deviceMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("portal device token v1\x00" + payload))
	return m.Sum(nil)
}

// knownDevice returns the claims of the client's device token when it is
// valid now for the account key, or nil.
func (s *Service) knownDevice(ctx context.Context, key string, now time.Time) *deviceClaims {
	t := deviceToken(ctx)
	if t == "" || len(t) > 1024 {
		return nil
	}
	payload, mac, ok := strings.Cut(t, ".")
	if !ok {
		return nil
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, s.deviceMAC(payload)) {
		return nil
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var c deviceClaims
	if json.Unmarshal(body, &c) != nil || c.UserID == "" || c.Device == "" || c.Email != key || now.Unix() >= c.Expires {
		return nil
	}
	return &c
}

// issueDevice returns a fresh device token for u, keeping the device id of
// the client's current token when that token is u's.
func (s *Service) issueDevice(ctx context.Context, u *User, now time.Time) (string, time.Duration) {
	c := deviceClaims{UserID: u.ID, Email: u.Email, Device: NewToken()[:22], Expires: now.Add(s.cfg.DeviceTTL).Unix()}
	if old := s.knownDevice(ctx, u.Email, now); old != nil && old.UserID == u.ID {
		c.Device = old.Device
	}
	return s.signDevice(c), s.cfg.DeviceTTL
}
