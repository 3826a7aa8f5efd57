package config

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreTheEmbeddedMode(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.DatabaseURL != "portal.db" || c.RedisURL != "" || c.SMTPURL != "" ||
		c.PublicURL != "http://localhost:8080" || c.IdleTimeout != 5*time.Minute || c.MaxAge != 12*time.Hour ||
		c.RoleChange != "next-login" || c.Env != "development" || c.Production() || !c.MigrateOnStart ||
		c.OutboxLease != 20*time.Second {
		t.Fatalf("defaults = %+v", c)
	}
}

// Every bad value is refused with one line that starts with the variable's name.
func TestBadValuesNameTheVariable(t *testing.T) {
	prod := map[string]string{"PORTAL_ENV": "production", "PORTAL_SMTP_URL": "smtp://h:25",
		"PORTAL_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "PORTAL_PUBLIC_URL": "https://p.example.com"}
	cases := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"PORTAL_SESSION_IDLE_TIMEOUT": "soon"}, "PORTAL_SESSION_IDLE_TIMEOUT"},
		{map[string]string{"PORTAL_SESSION_IDLE_TIMEOUT": "0s"}, "PORTAL_SESSION_IDLE_TIMEOUT"},
		{map[string]string{"PORTAL_SESSION_MAX_AGE": "1m"}, "PORTAL_SESSION_MAX_AGE"},
		{map[string]string{"PORTAL_OUTBOX_LEASE": "500ms"}, "PORTAL_OUTBOX_LEASE"},
		{map[string]string{"PORTAL_OUTBOX_LEASE": "a while"}, "PORTAL_OUTBOX_LEASE"},
		{map[string]string{"PORTAL_ROLE_CHANGE": "later"}, "PORTAL_ROLE_CHANGE"},
		{map[string]string{"PORTAL_ENV": "staging"}, "PORTAL_ENV"},
		{map[string]string{"PORTAL_PUBLIC_URL": "localhost"}, "PORTAL_PUBLIC_URL"},
		{map[string]string{"PORTAL_DATABASE_URL": "mysql://x"}, "PORTAL_DATABASE_URL"},
		{map[string]string{"PORTAL_REDIS_URL": "http://x"}, "PORTAL_REDIS_URL"},
		{map[string]string{"PORTAL_SMTP_URL": "http://x"}, "PORTAL_SMTP_URL"},
		{map[string]string{"PORTAL_SMTP_FROM": "not an address"}, "PORTAL_SMTP_FROM"},
		{map[string]string{"PORTAL_ENCRYPTION_KEY": "c2hvcnQ="}, "PORTAL_ENCRYPTION_KEY"},
		{map[string]string{"PORTAL_MIGRATE_ON_START": "maybe"}, "PORTAL_MIGRATE_ON_START"},
		{map[string]string{"PORTAL_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "PORTAL_TRUSTED_PROXIES"},
		{map[string]string{"PORTAL_AUDIT_RETENTION": "forever"}, "PORTAL_AUDIT_RETENTION"},
		{map[string]string{"PORTAL_AUDIT_RETENTION": "12h"}, "PORTAL_AUDIT_RETENTION"},
		{map[string]string{"PORTAL_AUDIT_RETENTION": "0d"}, "PORTAL_AUDIT_RETENTION"},
		{map[string]string{"PORTAL_AUDIT_RETENTION": "-5d"}, "PORTAL_AUDIT_RETENTION"},
		{map[string]string{"PORTAL_AUDIT_RETENTION": "99999d"}, "PORTAL_AUDIT_RETENTION"},
		{map[string]string{"PORTAL_CORS_ORIGINS": "*"}, "PORTAL_CORS_ORIGINS"},
		{map[string]string{"PORTAL_CORS_ORIGINS": "https://app.example.com/path"}, "PORTAL_CORS_ORIGINS"},
		{map[string]string{"PORTAL_CORS_ORIGINS": "https://*.example.com"}, "PORTAL_CORS_ORIGINS"},
		{map[string]string{"PORTAL_CORS_ORIGINS": "app.example.com"}, "PORTAL_CORS_ORIGINS"},
		{map[string]string{"PORTAL_COOKIE_SAMESITE": "lenient"}, "PORTAL_COOKIE_SAMESITE"},
		{with(prod, "PORTAL_CORS_ORIGINS", "http://app.example.com"), "PORTAL_CORS_ORIGINS"},
		{with(prod, "PORTAL_SMTP_URL", ""), "PORTAL_SMTP_URL"},
		{with(prod, "PORTAL_ENCRYPTION_KEY", ""), "PORTAL_ENCRYPTION_KEY"},
		{with(prod, "PORTAL_PUBLIC_URL", "http://p.example.com"), "PORTAL_PUBLIC_URL"},
	}
	for _, c := range cases {
		_, err := Load(c.env)
		if err == nil {
			t.Errorf("%v: accepted", c.env)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, c.name+": ") || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %q does not name %s on one line", c.env, msg, c.name)
		}
	}
	if _, err := Load(prod); err != nil {
		t.Fatalf("valid production config refused: %v", err)
	}
}

// PORTAL_AUDIT_RETENTION: 400 days by default, days or a Go duration.
func TestAuditRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 400 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
		"48h": 48 * time.Hour, " 1d ": 24 * time.Hour} {
		env := map[string]string{}
		if in != "" {
			env["PORTAL_AUDIT_RETENTION"] = in
		}
		c, err := Load(env)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got, err := c.Retention(); err != nil || got != want {
			t.Errorf("Retention(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func TestDevelopmentKeyIsCreatedOnceAndKept(t *testing.T) {
	file := filepath.Join(t.TempDir(), "portal.key")
	c, err := Load(map[string]string{"PORTAL_KEY_FILE": file})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := c.Key()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	k2, err := c.Key()
	if err != nil || string(k1) != string(k2) || len(k1) != 32 {
		t.Fatalf("second Key() = %x, %v; first %x", k2, err, k1)
	}
	os.WriteFile(file, []byte("garbage"), 0o600)
	if _, err := c.Key(); err == nil || !strings.HasPrefix(err.Error(), "PORTAL_KEY_FILE: ") {
		t.Fatalf("corrupt key file: %v", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load(map[string]string{"PORTAL_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1 ,fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Proxies()
	if err != nil || len(p) != 3 || p[0].String() != "10.0.0.0/8" || p[1].String() != "192.168.1.1/32" || p[2].String() != "fd00::/8" {
		t.Fatalf("Proxies = %v, %v", p, err)
	}
}

func TestCORSOriginsAndCookies(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := c.Origins(); len(o) != 0 || c.SameSite() != http.SameSiteLaxMode || c.SecureCookies() {
		t.Fatalf("defaults: origins %v, SameSite %v, Secure %v; want none, Lax, not Secure", o, c.SameSite(), c.SecureCookies())
	}
	c, err = Load(map[string]string{"PORTAL_CORS_ORIGINS": "https://App.Example.com, http://localhost:3000/", "PORTAL_COOKIE_SAMESITE": "none"})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := c.Origins()
	if strings.Join(o, " ") != "https://app.example.com http://localhost:3000" {
		t.Fatalf("origins = %q", o)
	}
	if c.SameSite() != http.SameSiteNoneMode || !c.SecureCookies() {
		t.Fatalf("SameSite=none: got %v, Secure %v; want None and Secure", c.SameSite(), c.SecureCookies())
	}
	c, _ = Load(map[string]string{"PORTAL_COOKIE_SAMESITE": "strict"})
	if c.SameSite() != http.SameSiteStrictMode || c.SecureCookies() {
		t.Fatalf("strict: got %v, Secure %v", c.SameSite(), c.SecureCookies())
	}
}
