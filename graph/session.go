package graph

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/clientportal/portal/internal/portal"
)

// CookieName is the session cookie.
const CookieName = "portal_session"

type cookieJar struct {
	w        http.ResponseWriter
	secure   bool
	sameSite http.SameSite
	maxAge   time.Duration
}

type cookieKey struct{}

// tokenFrom reads the session token: the Authorization bearer header wins
// over the cookie.
func tokenFrom(r *http.Request) (token string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme name is case-insensitive (RFC 9110 section 11.1).
		if scheme, t, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(t), false
		}
		return "", false
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, true
	}
	return "", false
}

// authenticate puts the caller's viewer (or the reason there is none) and
// IP address in the request context. It never rejects a request itself:
// login and the token flows need no session, and every other operation
// asks the service, which refuses without a viewer.
func authenticate(svc *portal.Service, o Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if ip := clientIP(r, o.TrustedProxies); ip != "" {
			ctx = portal.WithClientIP(ctx, ip)
		}
		jar := &cookieJar{w: w, secure: o.SecureCookies, sameSite: o.CookieSameSite, maxAge: o.CookieMaxAge}
		if jar.sameSite == 0 {
			jar.sameSite = http.SameSiteLaxMode
		}
		ctx = context.WithValue(ctx, cookieKey{}, jar)
		if token, fromCookie := tokenFrom(r); token != "" {
			v, err := svc.Authenticate(ctx, token)
			switch {
			case err == nil:
				ctx = portal.WithViewer(ctx, v)
			case errors.Is(err, portal.ErrNoSession):
				if fromCookie {
					jar.set("", -1)
				}
			default:
				ctx = portal.WithAuthError(ctx, err)
			}
		}
		next.ServeHTTP(w, r.WithContext(withLoaders(ctx, svc)))
	})
}

// clientIP is the address that per-IP throttling counts: the peer's, or,
// when the peer is one of the trusted proxies, the right-most address in
// X-Forwarded-For that is not a trusted proxy (the left part of the header
// is whatever the client chose to send).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if a, err := netip.ParseAddr(hop); err == nil && !isTrusted(hop) {
			return a.Unmap().String()
		}
	}
	return host
}

func (j *cookieJar) set(value string, maxAge int) {
	http.SetCookie(j.w, &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: j.secure || j.sameSite == http.SameSiteNoneMode, SameSite: j.sameSite})
}

// setSessionCookie sets the cookie for a login step's session token.
func setSessionCookie(ctx context.Context, res *portal.LoginResult, err error) (*portal.LoginResult, error) {
	if err != nil {
		return nil, err
	}
	if j, ok := ctx.Value(cookieKey{}).(*cookieJar); ok {
		j.set(res.Token, int(j.maxAge/time.Second))
	}
	return res, nil
}

func clearSessionCookie(ctx context.Context) {
	if j, ok := ctx.Value(cookieKey{}).(*cookieJar); ok {
		j.set("", -1)
	}
}
