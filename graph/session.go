package graph

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/clientportal/portal/internal/portal"
)

// CookieName is the session cookie.
const CookieName = "portal_session"

type cookieJar struct {
	w      http.ResponseWriter
	secure bool
	maxAge time.Duration
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
func authenticate(svc *portal.Service, secure bool, maxAge time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ctx = portal.WithClientIP(ctx, host)
		}
		jar := &cookieJar{w: w, secure: secure, maxAge: maxAge}
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

func (j *cookieJar) set(value string, maxAge int) {
	http.SetCookie(j.w, &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: j.secure, SameSite: http.SameSiteLaxMode})
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
