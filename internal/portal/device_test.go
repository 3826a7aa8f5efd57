package portal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// deviceSignIn signs email in fully from ctx and returns the device token
// the browser would keep.
func (e *env) deviceSignIn(ctx context.Context, email string) string {
	e.t.Helper()
	res, err := e.svc.Login(ctx, email, password)
	if err != nil {
		e.t.Fatalf("Login(%s): %v", email, err)
	}
	if res.Secret != "" {
		e.secrets[strings.ToLower(email)] = res.Secret
	}
	v, err := e.svc.Authenticate(ctx, res.Token)
	if err != nil {
		e.t.Fatal(err)
	}
	full, err := e.svc.VerifyTwoFactor(portal.WithViewer(ctx, v), e.code(email))
	if err != nil || full.DeviceToken == "" || full.DeviceMaxAge < 24*time.Hour {
		e.t.Fatalf("VerifyTwoFactor = %+v, %v", full, err)
	}
	return full.DeviceToken
}

// Lockout is no weapon: an attacker guessing from ever new addresses
// spends the account's budget for every client that is not known, but the
// owner's browser, holding the device token of an earlier sign-in, still
// signs in with the right password. The device is limited on its own
// budget; a forged, foreign or expired token counts as none.
func TestDeviceTokenExemptsTheOwnersBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *portal.Config) {
		c.Limits.LoginPerAccount = portal.Limit{Rate: 3, Burst: 3, Period: 1000 * time.Hour}
		c.Limits.LoginPerAccountAnyIP = portal.Limit{Rate: 6, Burst: 6, Period: 1000 * time.Hour}
		c.Limits.LoginPerDevice = portal.Limit{Rate: 4, Burst: 4, Period: 1000 * time.Hour}
		c.DeviceTTL = 48 * time.Hour
	})
	sa, _ := e.org("Acme", "ann@example.com")
	e.member(sa, "bob@example.com", access.Viewer)
	e.member(sa, "cat@example.com", access.Viewer)
	home := from("203.0.113.10")
	bobDevice := e.deviceSignIn(withDevice(home, ""), "bob@example.com")
	catDevice := e.deviceSignIn(from("203.0.113.11"), "cat@example.com")

	// The attacker rotates addresses until the account-wide budget is spent.
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		_, err := e.svc.Login(from(fmt.Sprintf("198.51.100.%d", i)), "bob@example.com", "guess "+fmt.Sprint(i))
		limited = portal.KindOf(err) == portal.KindRateLimited
	}
	if !limited {
		t.Fatal("guessing from rotating addresses was never RATE_LIMITED")
	}
	_, err := e.svc.Login(from("192.0.2.50"), "bob@example.com", password)
	wantKind(t, "an unknown client with the right password", err, portal.KindRateLimited)

	// The owner's browser, from anywhere, still gets in.
	if _, err := e.svc.Login(withDevice(from("192.0.2.77"), bobDevice), "bob@example.com", password); err != nil {
		t.Fatalf("the owner's browser was refused: %v", err)
	}

	// Tokens that prove nothing: tampered, another account's, garbage
	// (another server's key and expiry: below).
	payload, mac, _ := strings.Cut(bobDevice, ".")
	flipped := []byte(mac)
	flipped[0] ^= 'A' ^ 'B'
	for name, tok := range map[string]string{
		"tampered MAC":      payload + "." + string(flipped),
		"tampered payload":  strings.Replace(payload, payload[5:6], string(payload[5]^1), 1) + "." + mac,
		"another account's": catDevice,
		"garbage":           "x.y",
	} {
		_, err := e.svc.Login(withDevice(from("192.0.2.78"), tok), "bob@example.com", password)
		wantKind(t, name, err, portal.KindRateLimited)
	}

	// The device's own budget: 4 attempts (one spent above), then limited.
	for i := 0; i < 3; i++ {
		_, err := e.svc.Login(withDevice(home, bobDevice), "bob@example.com", "typo "+fmt.Sprint(i))
		wantKind(t, "the owner's typo", err, portal.KindUnauthenticated)
	}
	_, err = e.svc.Login(withDevice(home, bobDevice), "bob@example.com", password)
	wantKind(t, "a device over its own budget", err, portal.KindRateLimited)

	// Expired: cat's token, two days on, no longer exempts cat.
	for i := 0; i < 20; i++ {
		_, _ = e.svc.Login(from(fmt.Sprintf("198.51.100.%d", 100+i)), "cat@example.com", "guess")
	}
	if _, err := e.svc.Login(withDevice(from("192.0.2.79"), catDevice), "cat@example.com", password); err != nil {
		t.Fatalf("cat's browser before expiry: %v", err)
	}
	e.clock.Advance(48 * time.Hour)
	_, err = e.svc.Login(withDevice(from("192.0.2.79"), catDevice), "cat@example.com", password)
	wantKind(t, "an expired device token", err, portal.KindRateLimited)
}

// A token signed under another server key is no token.
func TestDeviceTokenOfAnotherKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *portal.Config) {
		c.Limits.LoginPerAccount = portal.Limit{Rate: 1, Burst: 1, Period: 1000 * time.Hour}
		c.Limits.LoginPerAccountAnyIP = portal.Limit{Rate: 1, Burst: 1, Period: 1000 * time.Hour}
	})
	e.org("Acme", "ann@example.com") // spends ann's budget
	// The same account on a server with another key: its token is foreign here.
	f := newEnv(t)
	f.org("Acme", "ann@example.com")
	foreign := f.deviceSignIn(bg(), "ann@example.com")
	_, err := e.svc.Login(withDevice(bg(), foreign), "ann@example.com", password)
	wantKind(t, "a token of another key", err, portal.KindRateLimited)
}

func withDevice(ctx context.Context, token string) context.Context {
	return portal.WithDeviceToken(ctx, token)
}
