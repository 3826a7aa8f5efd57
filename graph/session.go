package graph

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

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

// tokenFrom reads the session token: a bearer Authorization header wins
// over the cookie. Another scheme (a browser's Basic credentials for a
// staging site) is not ours and does not hide the cookie.
func tokenFrom(r *http.Request) (token string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme name is case-insensitive (RFC 9110 section 11.1).
		if scheme, t, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(t), false
		}
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, true
	}
	return "", false
}

// credentials is the session token a request carries, looked up only when
// its operation is about to run.
type credentials struct {
	token      string
	fromCookie bool
}

type credentialsKey struct{}

// authenticate puts the caller's IP address, session token and cookie jar
// in the request context. It looks nothing up: a request refused for its
// shape costs no session lookup (sessionLookup does that, right before
// the operation runs).
func authenticate(svc *portal.Service, o Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if ip := clientIP(r, o.TrustedProxies); ip != "" {
			ctx = portal.WithClientIP(ctx, ip)
		}
		jar := &cookieJar{w: w, secure: o.SecureCookies, maxAge: o.CookieMaxAge}
		ctx = context.WithValue(ctx, cookieKey{}, jar)
		if token, fromCookie := tokenFrom(r); token != "" {
			ctx = context.WithValue(ctx, credentialsKey{}, credentials{token, fromCookie})
		}
		next.ServeHTTP(w, r.WithContext(withLoaders(ctx, svc)))
	})
}

// sessionLookup puts the caller's viewer (or the reason there is none) in
// the context of an operation that passed every check and is about to
// run. It never refuses a request for want of a session (login and the
// token flows need none; the service refuses the rest), but when the
// session store cannot be reached nothing runs: the answer is
// SERVICE_UNAVAILABLE, so no request is authorised on a guess.
type sessionLookup struct{ svc *portal.Service }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = sessionLookup{}

func (sessionLookup) ExtensionName() string                   { return "SessionLookup" }
func (sessionLookup) Validate(graphql.ExecutableSchema) error { return nil }

func (l sessionLookup) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	c, ok := ctx.Value(credentialsKey{}).(credentials)
	if !ok {
		return next(ctx)
	}
	v, err := l.svc.Authenticate(ctx, c.token)
	switch {
	case err == nil:
		ctx = portal.WithViewer(ctx, v)
	case errors.Is(err, portal.ErrNoSession):
		if c.fromCookie {
			clearSessionCookie(ctx)
		}
	case portal.KindOf(err) == portal.KindUnavailable:
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{unavailableError()}})
	default:
		ctx = portal.WithAuthError(ctx, err)
	}
	return next(ctx)
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
