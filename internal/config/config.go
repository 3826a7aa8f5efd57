// Package config reads the server's configuration from the environment
// (DESIGN.md section 8). Every bad value is reported as one line naming
// the variable, so the server can refuse to start with a clear reason.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/clientportal/portal/internal/secretbox"
)

// Config is the whole configuration. Defaults give the embedded mode.
type Config struct {
	Addr        string        `env:"PORTAL_ADDR" envDefault:":8080"`
	DatabaseURL string        `env:"PORTAL_DATABASE_URL" envDefault:"portal.db"`
	RedisURL    string        `env:"PORTAL_REDIS_URL"`
	SMTPURL     string        `env:"PORTAL_SMTP_URL"`
	SMTPFrom    string        `env:"PORTAL_SMTP_FROM" envDefault:"Client Portal <no-reply@localhost>"`
	PublicURL   string        `env:"PORTAL_PUBLIC_URL" envDefault:"http://localhost:8080"`
	IdleTimeout time.Duration `env:"PORTAL_SESSION_IDLE_TIMEOUT" envDefault:"5m"`
	MaxAge      time.Duration `env:"PORTAL_SESSION_MAX_AGE" envDefault:"12h"`
	RoleChange  string        `env:"PORTAL_ROLE_CHANGE" envDefault:"next-login"`
	Env         string        `env:"PORTAL_ENV" envDefault:"development"`
	// EncryptionKey seals TOTP secrets and queued emails: 32 bytes, base64.
	// Required in production; in development it is kept in KeyFile.
	EncryptionKey string `env:"PORTAL_ENCRYPTION_KEY"`
	KeyFile       string `env:"PORTAL_KEY_FILE" envDefault:"portal.key"`
	// MigrateOnStart runs pending migrations when the server starts.
	MigrateOnStart bool `env:"PORTAL_MIGRATE_ON_START" envDefault:"true"`
	// TrustedProxies lists the reverse proxies (IPs or CIDRs, comma
	// separated) whose X-Forwarded-For header names the client's address.
	TrustedProxies []string `env:"PORTAL_TRUSTED_PROXIES" envSeparator:","`
	// MetricsAddr, when set, serves /metrics on this address only (for
	// example a port that only the monitoring network reaches).
	MetricsAddr string `env:"PORTAL_METRICS_ADDR"`
	// ShutdownTimeout bounds how long in-flight requests may drain.
	ShutdownTimeout time.Duration `env:"PORTAL_SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// AuditRetention is how long audit entries are kept: days ("400d")
	// or a Go duration ("9600h"); see Retention.
	AuditRetention string `env:"PORTAL_AUDIT_RETENTION" envDefault:"400d"`
	// CORSOrigins lists the origins (scheme://host[:port], comma separated)
	// whose browser pages may call /graphql with credentials. Empty: the
	// same origin only.
	CORSOrigins []string `env:"PORTAL_CORS_ORIGINS" envSeparator:","`
	// CookieSameSite is the session cookie's SameSite attribute: lax (the
	// default: the console, or a frontend on the same site), strict, or
	// none (a frontend on another site; the cookie is then Secure, so the
	// API must be served over HTTPS or from localhost).
	CookieSameSite string `env:"PORTAL_COOKIE_SAMESITE" envDefault:"lax"`
	// OutboxLease is how long a claim on queued emails lasts unless its
	// holder renews it: how soon another instance sends the emails of one
	// that died.
	OutboxLease time.Duration `env:"PORTAL_OUTBOX_LEASE" envDefault:"20s"`
}

// Production reports whether PORTAL_ENV is production.
func (c *Config) Production() bool { return c.Env == "production" }

// Load reads the configuration from environ (as os.Environ) and checks it.
func Load(environ map[string]string) (*Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		return nil, explain(err)
	}
	return &c, c.check()
}

// Environ returns the process environment as a map, for Load.
func Environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func bad(name, format string, args ...any) error {
	return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
}

func (c *Config) check() error {
	switch {
	case c.Env != "development" && c.Env != "production":
		return bad("PORTAL_ENV", "must be development or production, not %q", c.Env)
	case c.RoleChange != "next-login" && c.RoleChange != "immediate":
		return bad("PORTAL_ROLE_CHANGE", "must be next-login or immediate, not %q", c.RoleChange)
	case c.IdleTimeout < time.Second:
		return bad("PORTAL_SESSION_IDLE_TIMEOUT", "must be at least 1s, not %s", c.IdleTimeout)
	case c.MaxAge < c.IdleTimeout:
		return bad("PORTAL_SESSION_MAX_AGE", "must be at least the idle timeout (%s), not %s", c.IdleTimeout, c.MaxAge)
	case c.Addr == "":
		return bad("PORTAL_ADDR", "must not be empty")
	case c.DatabaseURL == "":
		return bad("PORTAL_DATABASE_URL", "must not be empty")
	case c.OutboxLease < time.Second:
		return bad("PORTAL_OUTBOX_LEASE", "must be at least 1s, not %s", c.OutboxLease)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("PORTAL_PUBLIC_URL", "must be an http(s) URL such as https://portal.example.com, not %q", c.PublicURL)
	}
	if strings.Contains(c.DatabaseURL, "://") && !strings.HasPrefix(c.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite://") {
		return bad("PORTAL_DATABASE_URL", "must be postgres://... or a SQLite file path")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return bad("PORTAL_REDIS_URL", "must be redis://host:port or rediss://...")
		}
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return bad("PORTAL_SMTP_URL", "must be smtp://user:pass@host:port or smtps://...")
		}
	}
	if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
		return bad("PORTAL_SMTP_FROM", "must be an address such as \"Portal <no-reply@example.com>\"")
	}
	if c.EncryptionKey != "" {
		if _, err := secretbox.ParseKey(c.EncryptionKey); err != nil {
			return bad("PORTAL_ENCRYPTION_KEY", "%v", err)
		}
	}
	if _, err := c.Proxies(); err != nil {
		return err
	}
	if _, err := c.Retention(); err != nil {
		return err
	}
	if _, err := c.Origins(); err != nil {
		return err
	}
	if c.CookieSameSite != "lax" && c.CookieSameSite != "strict" && c.CookieSameSite != "none" {
		return bad("PORTAL_COOKIE_SAMESITE", "must be lax, strict or none, not %q", c.CookieSameSite)
	}
	if c.Production() {
		switch {
		case c.SMTPURL == "":
			return bad("PORTAL_SMTP_URL", "is required in production")
		case c.EncryptionKey == "":
			return bad("PORTAL_ENCRYPTION_KEY", "is required in production (e.g. `openssl rand -base64 32`)")
		case !strings.HasPrefix(c.PublicURL, "https://"):
			return bad("PORTAL_PUBLIC_URL", "must be https:// in production")
		}
	}
	return nil
}

// Proxies parses TrustedProxies: each entry an IP address or a CIDR prefix.
func (c *Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		} else {
			return nil, bad("PORTAL_TRUSTED_PROXIES", "%q is neither an IP address nor a CIDR prefix", s)
		}
	}
	return out, nil
}

// Retention parses AuditRetention: a whole number of days ("400d") or a
// Go duration ("9600h"), from one day to 100 years.
func (c *Config) Retention() (time.Duration, error) {
	s := strings.TrimSpace(c.AuditRetention)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return 0, bad("PORTAL_AUDIT_RETENTION", "must be a number of days such as 400d, or a duration such as 9600h, not %q", c.AuditRetention)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if v, err := time.ParseDuration(s); err == nil {
		d = v
	} else {
		return 0, bad("PORTAL_AUDIT_RETENTION", "must be a number of days such as 400d, or a duration such as 9600h, not %q", c.AuditRetention)
	}
	if d < 24*time.Hour || d > 36500*24*time.Hour {
		return 0, bad("PORTAL_AUDIT_RETENTION", "must be between 1d and 36500d, not %q", c.AuditRetention)
	}
	return d, nil
}

// Origins parses CORSOrigins: each entry exactly an origin, such as
// https://app.example.com or http://localhost:3000 (no path, no wildcard:
// credentials are never granted to every origin). In production only
// https origins are accepted.
func (c *Config) Origins() ([]string, error) {
	var out []string
	for _, s := range c.CORSOrigins {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
			return nil, bad("PORTAL_CORS_ORIGINS", "%q is not an origin such as https://app.example.com", s)
		}
		if c.Production() && u.Scheme != "https" {
			return nil, bad("PORTAL_CORS_ORIGINS", "%q must be https:// in production", s)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}

// SameSite is the session cookie's SameSite mode.
func (c *Config) SameSite() http.SameSite {
	switch c.CookieSameSite {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// SecureCookies reports whether the session cookie is marked Secure: in
// production, and whenever SameSite is none (browsers refuse a SameSite=None
// cookie without Secure).
func (c *Config) SecureCookies() bool { return c.Production() || c.CookieSameSite == "none" }

// Key returns the encryption key: PORTAL_ENCRYPTION_KEY, or in development
// the key in KeyFile, created on first use (so that a restart can still
// read the TOTP secrets it sealed).
func (c *Config) Key() ([]byte, error) {
	if c.EncryptionKey != "" {
		return secretbox.ParseKey(c.EncryptionKey)
	}
	if b, err := os.ReadFile(c.KeyFile); err == nil {
		k, err := secretbox.ParseKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, bad("PORTAL_KEY_FILE", "%s: %v", c.KeyFile, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, bad("PORTAL_KEY_FILE", "%v", err)
	}
	k := secretbox.NewKey()
	if err := os.WriteFile(c.KeyFile, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, bad("PORTAL_KEY_FILE", "cannot create %s: %v", c.KeyFile, err)
	}
	return k, nil
}

// explain turns env's errors into "VARIABLE: reason".
func explain(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		if f, ok := reflect.TypeOf(Config{}).FieldByName(pe.Name); ok {
			return bad(f.Tag.Get("env"), "%v", pe.Err)
		}
	}
	return err
}
