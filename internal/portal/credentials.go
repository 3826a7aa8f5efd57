package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// argonParams are the password hashing parameters of DESIGN.md section 3
// (OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane).
var argonParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Hasher hashes and checks passwords with argon2id, running at most a
// fixed number of hashes at once so memory stays bounded under load.
type Hasher struct {
	slots chan struct{}
	dummy string // a real hash of a random password, burnt for unknown emails
}

// NewHasher allows concurrent hashes at once (each takes 19 MiB).
func NewHasher(concurrent int) *Hasher {
	if concurrent < 1 {
		concurrent = 1
	}
	h := &Hasher{slots: make(chan struct{}, concurrent)}
	d, err := argon2id.CreateHash(NewToken(), argonParams)
	if err != nil {
		panic(err)
	}
	h.dummy = d
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hash returns the argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-h.slots }()
	return argon2id.CreateHash(password, argonParams)
}

// Check reports whether password matches hash. An empty hash (no password
// set, or the user does not exist) burns the dummy hash so that the answer
// takes as long as for a real account.
func (h *Hasher) Check(ctx context.Context, password, hash string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-h.slots }()
	if hash == "" {
		_, _ = argon2id.ComparePasswordAndHash(password, h.dummy)
		return false, nil
	}
	return argon2id.ComparePasswordAndHash(password, hash)
}

// NewToken returns a 256-bit random token, URL-safe.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is the SHA-256 of a token: the only form in which tokens are stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// SessionKey is the hex SHA-256 of a session token, the session store's key.
func SessionKey(token string) string { return fmt.Sprintf("%x", HashToken(token)) }

// Password policy (DESIGN.md section 3).
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// checkPassword applies the password policy. Lengths count characters.
func checkPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return Invalid("password", "the password is not valid UTF-8")
	case n < MinPasswordLen:
		return Invalid("password", "the password must have at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		return Invalid("password", "the password must have at most %d characters", MaxPasswordLen)
	case email != "" && strings.EqualFold(strings.TrimSpace(password), email):
		return Invalid("password", "the password must not be your email address")
	}
	return nil
}

// accountKey is the form of a typed-in email that names an account (and
// its throttling budgets): trimmed and lower-cased, as normalizeEmail
// stores it, with no validation, so that a lookup answers alike for any
// input.
func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// normalizeEmail validates an email address and returns it lower-cased.
func normalizeEmail(field, s string) (string, error) {
	e := strings.TrimSpace(s)
	switch {
	case e == "":
		return "", Invalid(field, "the email address is required")
	case len(e) > 254:
		return "", Invalid(field, "the email address must have at most 254 characters")
	case strings.ContainsFunc(e, unicode.IsControl) || strings.ContainsAny(e, " <>\"(),;:\\[]"):
		return "", Invalid(field, "the email address contains characters that are not allowed")
	case strings.Count(e, "@") != 1:
		return "", Invalid(field, "the email address must have the form name@domain")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", Invalid(field, "the email address must have the form name@domain")
	}
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", Invalid(field, "the email address must have the form name@domain")
	}
	return strings.ToLower(e), nil
}

// MaxNameLen bounds a display name, in characters.
const MaxNameLen = 100

func normalizeName(s string) (string, error) {
	n := strings.TrimSpace(s)
	switch {
	case n == "":
		return "", Invalid("name", "the name is required")
	case !utf8.ValidString(n):
		return "", Invalid("name", "the name is not valid UTF-8")
	case utf8.RuneCountInString(n) > MaxNameLen:
		return "", Invalid("name", "the name must have at most %d characters", MaxNameLen)
	case strings.ContainsFunc(n, unicode.IsControl):
		return "", Invalid("name", "the name contains control characters")
	}
	return n, nil
}

// TOTP parameters: RFC 6238 defaults that every authenticator app supports.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
)

// newTOTP makes a fresh secret and its otpauth:// URL.
func newTOTP(issuer, account string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// TOTPCode returns the code for secret at t (used by tests and the dev
// `totp` command).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// matchTOTP returns the time step (in [now-1, now+1]) whose code is code
// and which is later than last, or 0 when none is.
func matchTOTP(secret, code string, now time.Time, last int64) int64 {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0
	}
	step := now.Unix() / totpPeriod
	for _, s := range []int64{step - 1, step, step + 1} {
		if s <= last {
			continue
		}
		want, err := TOTPCode(secret, time.Unix(s*totpPeriod, 0))
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s
		}
	}
	return 0
}
