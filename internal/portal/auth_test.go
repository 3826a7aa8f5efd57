package portal_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// Login then verifyTwoFactor: enrolment on the first login, the waiting
// session replaced by a new full one, a code accepted once.
func TestLoginAndVerifyTwoFactor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin, ann := e.org("Acme", "ann@example.com")
	if u := e.user(ann.ID); !u.TwoFactorEnabled || u.TOTPSecret == nil {
		t.Fatalf("after the first sign-in: enabled=%v", u.TwoFactorEnabled)
	}
	if acts := e.audit(ann.OrgID); !slices.Contains(acts, portal.AuditTwoFactorEnrolled) {
		t.Fatalf("audit %v has no enrolment", acts)
	}
	me, err := e.svc.Me(e.as(admin))
	if err != nil || me.ID != ann.ID || me.LastActiveAt == nil {
		t.Fatalf("Me = %+v, %v", me, err)
	}

	// The second login asks for a code, without a new secret.
	waiting := e.startLogin("ANN@example.com ")
	if waiting.Step != portal.StepTwoFactorRequired || waiting.Secret != "" {
		t.Fatalf("second login = %+v", waiting)
	}
	// A waiting session can do nothing else.
	_, err = e.svc.Me(e.as(waiting.Token))
	wantKind(t, "Me while waiting for 2FA", err, portal.KindUnauthenticated)
	code := e.code("ann@example.com")
	res, err := e.svc.VerifyTwoFactor(e.as(waiting.Token), code)
	if err != nil || res.Step != portal.StepSignedIn || res.Token == waiting.Token || res.User.ID != ann.ID {
		t.Fatalf("VerifyTwoFactor = %+v, %v", res, err)
	}
	e.dead(waiting.Token) // rotated: the token seen before 2FA is worth nothing
	if me, err := e.svc.Me(e.as(res.Token)); err != nil || me.ID != ann.ID {
		t.Fatalf("Me with the new token = %+v, %v", me, err)
	}
	// The same code again, on a new login: a replay.
	again := e.startLogin("ann@example.com")
	_, err = e.svc.VerifyTwoFactor(e.as(again.Token), code)
	if !errors.Is(err, portal.ErrWrongCode) {
		t.Fatalf("replayed code: %v", err)
	}

	// Wrong email and wrong password answer alike.
	for _, c := range [][2]string{{"nobody@example.com", password}, {"ann@example.com", "wrong password!!"}, {"ann@example.com\x00", password}} {
		if _, err := e.svc.Login(bg(), c[0], c[1]); !errors.Is(err, portal.ErrBadCredentials) {
			t.Errorf("Login(%q) = %v", c[0], err)
		}
	}
	// A waiting session that ends (here: logout) before its code is
	// checked yields no full session: the rotation needs the old one.
	gone := e.startLogin("ann@example.com")
	goneCtx := e.as(gone.Token)
	if err := e.svc.Logout(goneCtx); err != nil {
		t.Fatal(err)
	}
	if res, err := e.svc.VerifyTwoFactor(goneCtx, e.code("ann@example.com")); !errors.Is(err, portal.ErrNoSession) {
		t.Fatalf("code for a session that ended: %+v, %v", res, err)
	}
	if e.sessions.Len() != 3 { // admin's, res's and again's
		t.Fatalf("%d sessions stored, want 3", e.sessions.Len())
	}

	// Logout ends the session.
	if err := e.svc.Logout(e.as(res.Token)); err != nil {
		t.Fatal(err)
	}
	e.dead(res.Token)
	wantKind(t, "Logout without a session", e.svc.Logout(bg()), portal.KindUnauthenticated)
}

// verifyTwoFactor needs a session that waits for a code.
func TestVerifyTwoFactorNeedsAPendingLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin, _ := e.org("Acme", "ann@example.com")
	_, err := e.svc.VerifyTwoFactor(bg(), "123456")
	wantKind(t, "without a session", err, portal.KindUnauthenticated)
	_, err = e.svc.VerifyTwoFactor(e.as(admin), "123456")
	wantKind(t, "with a full session", err, portal.KindUnauthenticated)
	// A session store that is down is said so, not "call login first".
	down := portal.WithAuthError(bg(), portal.ErrUnavailable)
	if _, err := e.svc.VerifyTwoFactor(down, "123456"); !errors.Is(err, portal.ErrUnavailable) {
		t.Fatalf("with the session store down: %v", err)
	}
	if _, err := e.svc.Me(down); !errors.Is(err, portal.ErrUnavailable) {
		t.Fatalf("Me with the session store down: %v", err)
	}
}

// After MaxWrongCodes wrong codes the waiting session ends.
func TestWrongCodesEndTheLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.org("Acme", "ann@example.com")
	waiting := e.startLogin("ann@example.com")
	ctx := e.as(waiting.Token)
	for i := 1; i < e.cfg.MaxWrongCodes; i++ {
		if _, err := e.svc.VerifyTwoFactor(ctx, "000000"); !errors.Is(err, portal.ErrWrongCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	_, err := e.svc.VerifyTwoFactor(ctx, "not a code")
	wantKind(t, "last wrong code", err, portal.KindInvalid)
	if errors.Is(err, portal.ErrWrongCode) {
		t.Fatal("the last wrong code did not end the login")
	}
	e.dead(waiting.Token)
}

// The daily lock: after MaxWrongCodesPerDay wrong codes every code is
// refused until the day is over; the lock is audited once, in the same
// transaction as the count that reached it.
func TestWrongCodeDailyLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *portal.Config) { c.MaxWrongCodes, c.MaxWrongCodesPerDay = 2, 3 })
	admin, ann := e.org("Acme", "ann@example.com")
	_, bob := e.member(admin, "bob@example.com", access.Viewer)
	first := e.as(e.startLogin("bob@example.com").Token)
	if _, err := e.svc.VerifyTwoFactor(first, "000000"); !errors.Is(err, portal.ErrWrongCode) {
		t.Fatal(err)
	}
	_, err := e.svc.VerifyTwoFactor(first, "000000")
	wantKind(t, "second wrong code of a login", err, portal.KindInvalid)
	_, err = e.svc.VerifyTwoFactor(e.as(e.startLogin("bob@example.com").Token), "000000")
	if !errors.Is(err, portal.ErrWrongCode) {
		t.Fatalf("third wrong code of the day: %v", err)
	}
	if u := e.user(bob.ID); u.TOTPFailures != 3 || u.TOTPFailuresSince == nil {
		t.Fatalf("failures = %d since %v", u.TOTPFailures, u.TOTPFailuresSince)
	}
	locked := 0
	for _, a := range e.audit(ann.OrgID) {
		if a == portal.AuditTwoFactorLocked {
			locked++
		}
	}
	if locked != 1 {
		t.Fatalf("%d TWO_FACTOR_LOCKED entries, want 1", locked)
	}
	// Even the right code is refused now, with the time until the lock lifts.
	e.clock.Advance(time.Hour)
	waiting := e.startLogin("bob@example.com")
	_, err = e.svc.VerifyTwoFactor(e.as(waiting.Token), e.code("bob@example.com"))
	var de *portal.Error
	if !errors.As(err, &de) || de.Kind != portal.KindRateLimited || de.RetryAfterSeconds != 23*3600+1 {
		t.Fatalf("right code while locked: %+v", err)
	}
	// A day after the first wrong code the lock lifts.
	e.clock.Advance(23 * time.Hour)
	e.signIn("bob@example.com")
	if u := e.user(bob.ID); u.TOTPFailures != 0 {
		t.Fatalf("an accepted code left %d failures", u.TOTPFailures)
	}
}

// A login whose account changed while it waited for its code ends.
func TestLoginSuperseded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin, _ := e.org("Acme", "ann@example.com")
	_, bob := e.member(admin, "bob@example.com", access.Viewer)

	// A newer login replaced nothing for an enrolled user, but a password
	// reset since the login ends it.
	waiting := e.startLogin("bob@example.com")
	ctx := e.as(waiting.Token)
	e.clock.Advance(time.Second)
	if _, err := e.svc.SendPasswordReset(e.as(admin), bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(bg(), e.link("bob@example.com", "reset-password"), "a brand new password"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.VerifyTwoFactor(ctx, e.code("bob@example.com"))
	wantKind(t, "code after a password reset", err, portal.KindUnauthenticated)

	// A 2FA reset while the login waits: the secret is gone.
	waiting = e.startLogin2(t, "bob@example.com", "a brand new password")
	ctx = e.as(waiting.Token)
	if _, err := e.svc.ResetTwoFactor(e.as(admin), bob.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.VerifyTwoFactor(ctx, e.code("bob@example.com"))
	wantKind(t, "code after a 2FA reset", err, portal.KindUnauthenticated)

	// Two first logins: the newer one replaced the older one's secret.
	first := e.startLogin2(t, "bob@example.com", "a brand new password")
	firstCtx := e.as(first.Token)
	second := e.startLogin2(t, "bob@example.com", "a brand new password")
	if first.Secret == "" || second.Secret == "" || first.Secret == second.Secret {
		t.Fatal("first logins did not enrol with fresh secrets")
	}
	e.secrets["bob@example.com"] = first.Secret
	_, err = e.svc.VerifyTwoFactor(firstCtx, e.code("bob@example.com"))
	wantKind(t, "code of a replaced enrolment", err, portal.KindUnauthenticated)
	e.dead(first.Token)
}

// startLogin2 is startLogin with another password.
func (e *env) startLogin2(t *testing.T, email, pw string) *portal.LoginResult {
	t.Helper()
	res, err := e.svc.Login(bg(), email, pw)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if res.Secret != "" {
		e.secrets[email] = res.Secret
	}
	return res
}

// Authenticate: unknown, expired and revoked sessions; the immediate
// role-change mode.
func TestAuthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *portal.Config) { c.RoleChange = portal.RoleChangeImmediate })
	admin, _ := e.org("Acme", "ann@example.com")
	bobToken, bob := e.member(admin, "bob@example.com", access.Admin)
	for _, tok := range []string{"", "x", string(make([]byte, 200))} {
		if _, err := e.svc.Authenticate(bg(), tok); !errors.Is(err, portal.ErrNoSession) {
			t.Errorf("Authenticate(%q): %v", tok, err)
		}
	}
	// Demoted: the session acts with the lower role at once.
	if _, err := e.svc.ChangeRole(e.as(admin), bob.ID, access.Viewer); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Authenticate(bg(), bobToken)
	if err != nil || v.Role != access.Viewer || v.Session.Role != access.Admin {
		t.Fatalf("after the demotion: %+v, %v", v, err)
	}
	_, err = e.svc.CreateUser(portal.WithViewer(bg(), v), "carl@example.com", "Carl", access.Viewer)
	wantKind(t, "demoted admin creates a user", err, portal.KindForbidden)
	// Idle timeout.
	e.clock.Advance(6 * time.Minute)
	e.dead(bobToken)
}

// Rate limits: per account and per IP, with the time to wait.
func TestThrottle(t *testing.T) {
	t.Parallel()
	one := portal.Limit{Rate: 1, Burst: 1, Period: time.Hour}
	e := newEnv(t, func(c *portal.Config) { c.Limits.LoginPerIP, c.Limits.ResetPerAccount = one, one })
	e.org("Acme", "ann@example.com")
	ip := portal.WithClientIP(bg(), "2001:db8::1")
	if _, err := e.svc.Login(ip, "ann@example.com", password); err != nil {
		t.Fatal(err)
	}
	// Another address of the same /64 shares the budget.
	_, err := e.svc.Login(portal.WithClientIP(bg(), "2001:db8::2"), "ann@example.com", password)
	var de *portal.Error
	if !errors.As(err, &de) || de.Kind != portal.KindRateLimited || de.RetryAfterSeconds < 3000 {
		t.Fatalf("second login from the /64: %+v", err)
	}
	if _, err := e.svc.Login(portal.WithClientIP(bg(), "192.0.2.1"), "ann@example.com", password); err != nil {
		t.Fatalf("login from another address: %v", err)
	}
	if err := e.svc.RequestPasswordReset(bg(), "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "second reset request", e.svc.RequestPasswordReset(bg(), "ann@example.com"), portal.KindRateLimited)
}
