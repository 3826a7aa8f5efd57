// Package portal is the permission service of the Client Portal: the
// domain types, the ports it consumes (store, sessions, rate limiter,
// clock) and one method per use case. Every method takes the viewer from
// the context, asks the role policy (package access), and does its work in
// one transaction together with its audit record and outbox email.
package portal

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/secretbox"
)

// RoleChangeMode says when a role change reaches existing sessions.
type RoleChangeMode string

const (
	// RoleChangeNextLogin: a session keeps the role it was started with.
	RoleChangeNextLogin RoleChangeMode = "next-login"
	// RoleChangeImmediate: a session acts with the lower of its login role
	// and the user's current role.
	RoleChangeImmediate RoleChangeMode = "immediate"
)

// Limits are the attempt budgets for the unauthenticated flows, per
// account and per client IP.
type Limits struct {
	// LoginPerAccount is per account and client IP, so that one attacker
	// guessing passwords locks out only themself; LoginPerAccountAnyIP,
	// looser, bounds guessing spread over many addresses.
	LoginPerAccount, LoginPerAccountAnyIP, LoginPerIP Limit
	TwoFactorPerAccount                               Limit
	ResetPerAccount, ResetPerIP                       Limit
	TokenPerIP                                        Limit // acceptInvitation and resetPassword
}

// DefaultLimits are generous for people and tight for scripts.
var DefaultLimits = Limits{
	LoginPerAccount:      Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute},
	LoginPerAccountAnyIP: Limit{Rate: 100, Burst: 100, Period: 15 * time.Minute},
	LoginPerIP:           Limit{Rate: 60, Burst: 30, Period: time.Minute},
	TwoFactorPerAccount:  Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute},
	ResetPerAccount:      Limit{Rate: 3, Burst: 3, Period: time.Hour},
	ResetPerIP:           Limit{Rate: 20, Burst: 10, Period: time.Hour},
	TokenPerIP:           Limit{Rate: 30, Burst: 20, Period: time.Minute},
}

// Config holds the service's policies.
type Config struct {
	PublicURL     string // base of links in emails
	Issuer        string // shown in authenticator apps
	RoleChange    RoleChangeMode
	InvitationTTL time.Duration
	ResetTTL      time.Duration
	MaxWrongCodes int // per login
	// MaxWrongCodesPerDay is how many wrong codes a user may send in a
	// day (from the first wrong one; an accepted code clears the count)
	// before verifyTwoFactor refuses every code until that day is over or
	// an admin resets their 2FA.
	MaxWrongCodesPerDay int
	ActiveInterval      time.Duration // at most one last-active write per user per interval
	// ResetFloor is the least time requestPasswordReset takes, so that
	// known and unknown emails answer alike.
	ResetFloor time.Duration
	Limits     Limits
}

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() Config {
	return Config{PublicURL: "http://localhost:8080", Issuer: "Client Portal", RoleChange: RoleChangeNextLogin,
		InvitationTTL: 72 * time.Hour, ResetTTL: time.Hour, MaxWrongCodes: 5, MaxWrongCodesPerDay: 20, ActiveInterval: time.Minute,
		ResetFloor: 300 * time.Millisecond, Limits: DefaultLimits}
}

// Service is the permission service.
type Service struct {
	cfg      Config
	store    Store
	sessions SessionStore
	limiter  Limiter
	clock    Clock
	hasher   *Hasher
	box      *secretbox.Box
	log      *slog.Logger
	// Notify, when set, is called after a transaction that queued an email
	// commits (to wake the delivery worker).
	Notify func()

	activeMu sync.Mutex
	active   map[string]time.Time // user id -> last last-active write by this process
}

// New wires a Service.
func New(cfg Config, store Store, sessions SessionStore, limiter Limiter, clock Clock, hasher *Hasher, box *secretbox.Box, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, store: store, sessions: sessions, limiter: limiter, clock: clock,
		hasher: hasher, box: box, log: log, active: map[string]time.Time{}}
}

// now is the clock's time at the databases' precision.
func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// Viewer is who is calling: the session and its user.
type Viewer struct {
	Session *Session
	User    *User
	// Role is the role the session acts with (DESIGN.md section 1).
	Role access.Role
}

// Subject is the viewer as the role policy sees them.
func (v *Viewer) Subject() access.Subject { return access.Subject{ID: v.User.ID, Role: v.Role} }

type ctxKey int

const (
	viewerKey ctxKey = iota
	authErrKey
	ipKey
)

// WithAuthError records in ctx why the caller's session could not be
// checked (for example, the session store is down), so that calls that
// need a session fail with that error instead of "sign in first".
func WithAuthError(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, authErrKey, err)
}

// authError is the error WithAuthError recorded in ctx, or nil.
func authError(ctx context.Context) error {
	err, _ := ctx.Value(authErrKey).(error)
	return err
}

// noViewer is the answer to a call without a session.
func noViewer(ctx context.Context) error {
	if err := authError(ctx); err != nil {
		return err
	}
	return ErrUnauthenticated
}

// WithViewer returns ctx carrying the viewer found by Authenticate.
func WithViewer(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey, v)
}

// ViewerFrom returns the viewer in ctx, if any (either session stage).
func ViewerFrom(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey).(*Viewer)
	return v
}

// WithClientIP returns ctx carrying the caller's IP address, for throttling.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ipKey, ip)
}

func clientIP(ctx context.Context) string {
	ip, _ := ctx.Value(ipKey).(string)
	return ip
}

// SignedIn reports whether v is a viewer of a full (2FA-verified)
// session; false for nil.
func (v *Viewer) SignedIn() bool { return v != nil && v.Session.Stage == StageFull }

// signedIn returns the viewer of a full (2FA-verified) session.
func signedIn(ctx context.Context) (*Viewer, error) {
	v := ViewerFrom(ctx)
	switch {
	case v.SignedIn():
		return v, nil
	case v == nil:
		return nil, noViewer(ctx)
	}
	return nil, &Error{Kind: KindUnauthenticated, Message: "finish signing in: send your two-factor code to verifyTwoFactor"}
}

// pendingLogin returns the viewer of a session waiting for its 2FA code.
func pendingLogin(ctx context.Context) (*Viewer, error) {
	v := ViewerFrom(ctx)
	switch {
	case v != nil && v.Session.Stage == StageTwoFactor:
		return v, nil
	case v == nil && authError(ctx) != nil:
		return nil, authError(ctx)
	}
	return nil, &Error{Kind: KindUnauthenticated, Message: "no login is waiting for a code; call login first"}
}

// Authenticate finds the session of token and its user, slides the idle
// timeout, and records activity. It returns ErrNoSession for an unknown,
// expired or revoked session.
func (s *Service) Authenticate(ctx context.Context, token string) (*Viewer, error) {
	if token == "" || len(token) > 128 {
		return nil, ErrNoSession
	}
	now := s.now()
	sess, err := s.sessions.Touch(ctx, SessionKey(token), now)
	if err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, sess.OrgID, sess.UserID)
	if KindOf(err) == KindNotFound || (err == nil && u.SessionsNotBefore != nil && sess.CreatedAt.Before(*u.SessionsNotBefore)) {
		_ = s.sessions.Delete(ctx, sess.Hash)
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	v := &Viewer{Session: sess, User: u, Role: sess.Role}
	if s.cfg.RoleChange == RoleChangeImmediate {
		v.Role = access.Lower(sess.Role, u.Role)
	}
	if sess.Stage == StageFull && s.touchActive(ctx, u.ID, now) {
		u.LastActiveAt = &now
	}
	return v, nil
}

// touchActive records activity at most once per ActiveInterval per user:
// this process skips the statement when it wrote recently, and the
// statement itself only writes when the stored time is old enough. It
// reports whether it asked the store to write.
func (s *Service) touchActive(ctx context.Context, userID string, now time.Time) bool {
	s.activeMu.Lock()
	last, ok := s.active[userID]
	if ok && now.Sub(last) < s.cfg.ActiveInterval {
		s.activeMu.Unlock()
		return false
	}
	s.active[userID] = now
	if len(s.active) > 100_000 { // bounded: forget everyone, rewrite at most once each
		s.active = map[string]time.Time{userID: now}
	}
	s.activeMu.Unlock()
	if err := s.store.TouchLastActive(ctx, userID, now, s.cfg.ActiveInterval); err != nil {
		s.log.WarnContext(ctx, "record last activity", "err", err)
		return false
	}
	return true
}

// revokeSessions ends every session of u in the database, in the
// caller's transaction so that it cannot be lost: Authenticate refuses
// sessions started before SessionsNotBefore. After commit, the caller
// calls deleteSessions to remove them from the session store as well.
func revokeSessions(ctx context.Context, tx Store, u *User, now time.Time) error {
	if err := tx.EndSessions(ctx, u.ID, now); err != nil {
		return err
	}
	u.SessionsNotBefore = &now
	return nil
}

// deleteSessions removes every session of a user from the session store,
// after revokeSessions committed. A failure is only logged: the sessions
// are dead already.
func (s *Service) deleteSessions(ctx context.Context, userID string) {
	if err := s.sessions.DeleteUser(context.WithoutCancel(ctx), userID); err != nil {
		s.log.ErrorContext(ctx, "delete sessions of user", "user", userID, "err", err)
	}
}

// throttle takes one attempt from each key's budget.
func (s *Service) throttle(ctx context.Context, keys ...throttleKey) error {
	for _, k := range keys {
		if k.key == "" {
			continue
		}
		wait, err := s.limiter.Allow(ctx, k.key, k.limit)
		if err != nil {
			return err
		}
		if wait > 0 {
			secs := int((wait + time.Second - 1) / time.Second)
			return &Error{Kind: KindRateLimited, Message: "too many attempts; try again later", RetryAfterSeconds: secs}
		}
	}
	return nil
}

type throttleKey struct {
	key   string
	limit Limit
}

// ipKeyOf is the per-IP budget of op. IPv6 clients are counted per /64,
// the block one subscriber usually holds, so that cycling through its
// addresses gains nothing.
func ipKeyOf(ctx context.Context, op string, l Limit) throttleKey {
	ip := clientIP(ctx)
	if ip == "" {
		return throttleKey{}
	}
	if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().Is6() {
		if p, err := a.Prefix(64); err == nil {
			ip = p.String()
		}
	}
	return throttleKey{op + ":ip:" + ip, l}
}

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}
