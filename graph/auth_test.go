package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// Helpers shared by auth_test.go, session_test.go, tokens_test.go and
// http_test.go. They are prefixed "sec" so that they cannot collide with
// helpers of other test files in this package.

// secCodes are the error codes of the contract (contract.graphqls).
var secCodes = map[string]bool{
	"UNAUTHENTICATED": true, "FORBIDDEN": true, "NOT_FOUND": true, "BAD_USER_INPUT": true,
	"CONFLICT": true, "RATE_LIMITED": true, "SERVICE_UNAVAILABLE": true, "PERSISTED_QUERY_NOT_FOUND": true,
	"INTERNAL": true,
}

// secCheck asserts what must hold for every response: each error has one
// of the contract's codes, and an INTERNAL error shows no internals.
func secCheck(t testing.TB, r *graphtest.Response) {
	t.Helper()
	for _, er := range r.Errors {
		code, _ := er.Extensions["code"].(string)
		if !secCodes[code] {
			t.Errorf("error %q (status %d) has extensions.code %q, not one of the contract's", er.Message, r.Status, code)
		}
		if code == "INTERNAL" && !strings.HasPrefix(er.Message, "internal error (id ") && er.Message != portal.ErrUnavailable.Message {
			t.Errorf("INTERNAL error shows %q", er.Message)
		}
		if code == "RATE_LIMITED" {
			if s, _ := er.Extensions["retryAfterSeconds"].(float64); s <= 0 {
				t.Errorf("RATE_LIMITED without a positive retryAfterSeconds: %+v", er.Extensions)
			}
		}
	}
}

// secPost is e.Post with secCheck.
func secPost(t testing.TB, e *graphtest.Env, token, query string, vars map[string]any) *graphtest.Response {
	t.Helper()
	r := e.Post(token, query, vars)
	secCheck(t, r)
	return r
}

// secWant asserts that r failed, every error with code.
func secWant(t testing.TB, r *graphtest.Response, code string) {
	t.Helper()
	secCheck(t, r)
	if len(r.Errors) == 0 {
		t.Fatalf("want %s, got data %s", code, r.Data)
	}
	for _, er := range r.Errors {
		if c := er.Extensions["code"]; c != code {
			t.Fatalf("want %s, got %v: %q", code, c, er.Message)
		}
	}
}

// secWantField asserts that r failed with code and extensions.field.
func secWantField(t testing.TB, r *graphtest.Response, code, field string) {
	t.Helper()
	secWant(t, r, code)
	if f := r.Field(); f != field {
		t.Fatalf("want field %q, got %q (%q)", field, f, r.Errors[0].Message)
	}
}

// secOK asserts that r has no errors and decodes its data into v (when not nil).
func secOK(t testing.TB, r *graphtest.Response, v any) {
	t.Helper()
	secCheck(t, r)
	if v == nil {
		v = &map[string]any{}
	}
	r.Decode(t, v)
}

// secMe asks for me with token; empty string when that fails with UNAUTHENTICATED.
func secMe(t testing.TB, e *graphtest.Env, token string) string {
	t.Helper()
	r := secPost(t, e, token, `{ me { email } }`, nil)
	if r.Code() == "UNAUTHENTICATED" {
		return ""
	}
	var out struct{ Me struct{ Email string } }
	secOK(t, r, &out)
	return out.Me.Email
}

// secAlive asserts that token is a working full session of email.
func secAlive(t testing.TB, e *graphtest.Env, token, email string) {
	t.Helper()
	if got := secMe(t, e, token); got != email {
		t.Fatalf("me = %q, want %q", got, email)
	}
}

// secDead asserts that token is not a working session.
func secDead(t testing.TB, e *graphtest.Env, token string) {
	t.Helper()
	secWant(t, secPost(t, e, token, `{ me { email } }`, nil), "UNAUTHENTICATED")
}

// secUser reads a user straight from the database.
func secUser(t testing.TB, e *graphtest.Env, email string) *portal.User {
	t.Helper()
	u, err := e.DB.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// secLogin runs login and checks the response.
func secLogin(t testing.TB, e *graphtest.Env, email, password string) *graphtest.Response {
	t.Helper()
	r := e.Login(email, password)
	secCheck(t, r)
	return r
}

// secVerify runs verifyTwoFactor and checks the response.
func secVerify(t testing.TB, e *graphtest.Env, token, code string) *graphtest.Response {
	t.Helper()
	r := e.Verify(token, code)
	secCheck(t, r)
	return r
}

// secVerified asserts that verifyTwoFactor signed in and returns the new token.
func secVerified(t testing.TB, r *graphtest.Response) string {
	t.Helper()
	var out struct {
		VerifyTwoFactor struct {
			Step, Token string
			User        struct{ Email string }
		}
	}
	secOK(t, r, &out)
	if out.VerifyTwoFactor.Step != "SIGNED_IN" || out.VerifyTwoFactor.Token == "" {
		t.Fatalf("verifyTwoFactor = %+v", out.VerifyTwoFactor)
	}
	return out.VerifyTwoFactor.Token
}

// secStep is the fake clock's TOTP time step.
func secStep(e *graphtest.Env) int64 { return e.Clock.Now().Unix() / 30 }

// secCodeAt is the TOTP code of secret at time step step.
func secCodeAt(t testing.TB, secret string, step int64) string {
	t.Helper()
	c, err := portal.TOTPCode(secret, time.Unix(step*30, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// secWrongCode is a well-formed code that is not valid for secret in the
// accepted window around the clock's step.
func secWrongCode(t testing.TB, e *graphtest.Env, secret string) string {
	t.Helper()
	s := secStep(e)
	valid := map[string]bool{}
	for d := int64(-1); d <= 1; d++ {
		valid[secCodeAt(t, secret, s+d)] = true
	}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", (123456+i*111111)%1000000)
		if !valid[c] {
			return c
		}
	}
}

// secOrg makes an organisation and its Super Admin, signed in, more cheaply
// than e.CreateOrganization (the user is seeded ACTIVE, so no invitation
// is accepted: a password hash less under the race detector). The
// operator flow itself is covered by TestSignInFlow.
func secOrg(t testing.TB, e *graphtest.Env, email string) (token, id string) {
	t.Helper()
	org := &portal.Organization{Name: "Acme", CreatedAt: e.Clock.Now()}
	if err := e.DB.CreateOrganization(context.Background(), org); err != nil {
		t.Fatal(err)
	}
	id = e.SeedUser(&portal.User{OrgID: org.ID, Email: email, Name: "Super " + email, Role: access.SuperAdmin})
	return e.SignIn(email, graphtest.Password), id
}

// secSeed adds an ACTIVE user with graphtest.Password (no 2FA yet) to the
// organisation of the user orgOf.
func secSeed(t testing.TB, e *graphtest.Env, orgOf, email string, role access.Role) string {
	t.Helper()
	return e.SeedUser(&portal.User{OrgID: e.OrgOf(orgOf), Email: email, Name: email, Role: role})
}

func secLimits(f func(l *portal.Limits)) graphtest.Option {
	return func(c *portal.Config) { f(&c.Limits) }
}

// TestAuthLoginErrorsAreIdentical: a wrong password, an unknown email and
// an INVITED user (who has no password yet) get the very same error, and
// none of them starts a session.
func TestAuthLoginErrorsAreIdentical(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		admin, _ := secOrg(t, e, "ann@example.com")
		e.Invite(admin, "ivy@example.com", "Ivy", "VIEWER")

		wrong := secLogin(t, e, "ann@example.com", "not the right password")
		unknown := secLogin(t, e, "nobody@example.com", graphtest.Password)
		invited := secLogin(t, e, "ivy@example.com", graphtest.Password)
		for name, r := range map[string]*graphtest.Response{"wrong password": wrong, "unknown email": unknown, "invited user": invited} {
			secWant(t, r, "UNAUTHENTICATED")
			if len(r.Errors) != 1 || string(r.Data) != "null" {
				t.Fatalf("%s: %d errors, data %s", name, len(r.Errors), r.Data)
			}
			if !reflect.DeepEqual(r.Errors, wrong.Errors) || r.Status != wrong.Status {
				t.Fatalf("%s answers %d %+v, wrong password answers %d %+v", name, r.Status, r.Errors, wrong.Status, wrong.Errors)
			}
			for _, c := range r.Cookies {
				if c.Name == "portal_session" && c.Value != "" {
					t.Fatalf("%s set a session cookie", name)
				}
			}
		}
		if u := secUser(t, e, "ivy@example.com"); u.Status != portal.StatusInvited || u.TOTPSecret != nil || u.PasswordHash != "" {
			t.Fatalf("invited user changed by a login attempt: %+v", u)
		}
	})
}

// TestAuthEnrollment: the first login enrols 2FA; a wrong code enables
// nothing; the right code signs in with a new token and kills the waiting
// one; later logins ask for a code without enrolment.
func TestAuthEnrollment(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const bob = "bob@example.com"
		_, annID := secOrg(t, e, "ann@example.com")
		secSeed(t, e, annID, bob, access.Creator)

		first := e.StartLogin(bob, graphtest.Password)
		if first.Step != "TWO_FACTOR_ENROLLMENT_REQUIRED" || first.Token == "" || first.Enrollment == nil {
			t.Fatalf("first login = %+v", first)
		}
		secret1 := first.Enrollment.Secret
		u, err := url.Parse(first.Enrollment.OtpauthURL)
		if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || !strings.Contains(first.Enrollment.OtpauthURL, "secret=") ||
			u.Query().Get("secret") != secret1 || secret1 == "" {
			t.Fatalf("otpauthUrl %q does not carry the secret %q", first.Enrollment.OtpauthURL, secret1)
		}
		db := secUser(t, e, bob)
		if db.TwoFactorEnabled || db.TOTPSecret == nil || bytes.Contains(db.TOTPSecret, []byte(secret1)) {
			t.Fatalf("after login: enabled=%v, secret stored in clear: %v", db.TwoFactorEnabled, bytes.Contains(db.TOTPSecret, []byte(secret1)))
		}

		// A wrong code: BAD_USER_INPUT on code, 2FA still off.
		secWantField(t, secVerify(t, e, first.Token, secWrongCode(t, e, secret1)), "BAD_USER_INPUT", "code")
		if db := secUser(t, e, bob); db.TwoFactorEnabled || db.TOTPLastStep != 0 {
			t.Fatalf("a wrong code changed 2FA: enabled=%v last=%d", db.TwoFactorEnabled, db.TOTPLastStep)
		}
		// So the next login must enrol again, with a fresh secret; the
		// first secret is dead.
		second := e.StartLogin(bob, graphtest.Password)
		if second.Step != "TWO_FACTOR_ENROLLMENT_REQUIRED" || second.Enrollment == nil || second.Enrollment.Secret == secret1 {
			t.Fatalf("second login = %+v", second)
		}
		secret2 := second.Enrollment.Secret
		secWantField(t, secVerify(t, e, second.Token, secCodeAt(t, secret1, secStep(e))), "BAD_USER_INPUT", "code")
		if db := secUser(t, e, bob); db.TwoFactorEnabled {
			t.Fatal("a code of the replaced secret enabled 2FA")
		}
		// Nothing but verifyTwoFactor works for the waiting session.
		secDead(t, e, second.Token)

		step := secStep(e)
		full := secVerified(t, secVerify(t, e, second.Token, secCodeAt(t, secret2, step)))
		if full == second.Token || full == first.Token {
			t.Fatal("verifyTwoFactor kept the waiting token")
		}
		db = secUser(t, e, bob)
		if !db.TwoFactorEnabled || db.TOTPLastStep != step {
			t.Fatalf("after enrolment: enabled=%v last=%d, want step %d", db.TwoFactorEnabled, db.TOTPLastStep, step)
		}
		var me struct {
			Me struct{ TwoFactorEnabled bool }
		}
		secOK(t, secPost(t, e, full, `{ me { twoFactorEnabled } }`, nil), &me)
		if !me.Me.TwoFactorEnabled {
			t.Fatal("me.twoFactorEnabled = false after enrolment")
		}

		// The waiting token is worth nothing now.
		e.Clock.Advance(30 * time.Second)
		secDead(t, e, second.Token)
		secWant(t, secVerify(t, e, second.Token, secCodeAt(t, secret2, secStep(e))), "UNAUTHENTICATED")
		secWant(t, secPost(t, e, second.Token, `mutation { logout }`, nil), "UNAUTHENTICATED")
		secWant(t, secPost(t, e, second.Token, `{ users { totalCount } }`, nil), "UNAUTHENTICATED")
		if db := secUser(t, e, bob); db.TOTPLastStep != step {
			t.Fatalf("the dead waiting token consumed a code: last=%d", db.TOTPLastStep)
		}
		secAlive(t, e, full, bob)

		// Later logins: a code, no enrolment, the same secret.
		var out struct {
			Login struct {
				Step       string
				Token      string
				Enrollment *struct{ Secret string }
			}
		}
		secOK(t, secLogin(t, e, bob, graphtest.Password), &out)
		if out.Login.Step != "TWO_FACTOR_REQUIRED" || out.Login.Enrollment != nil {
			t.Fatalf("later login = %+v", out.Login)
		}
		if !bytes.Equal(secUser(t, e, bob).TOTPSecret, db.TOTPSecret) {
			t.Fatal("a later login replaced the enrolled secret")
		}
		secVerified(t, secVerify(t, e, out.Login.Token, secCodeAt(t, secret2, secStep(e))))
	})
}

// TestAuthTOTPCodes: a code counts once; the steps next to the current one
// are accepted, two steps back is not; only steps later than the last
// accepted one pass. Five wrong codes end the waiting session; the right
// code cannot revive it and is not consumed.
func TestAuthTOTPCodes(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		secOrg(t, e, ann)
		secret := e.Secret(ann)
		s := secStep(e) // the step of the sign-in just done
		lastStep := func(want int64) {
			t.Helper()
			if got := secUser(t, e, ann).TOTPLastStep; got != want {
				t.Fatalf("totp_last_step = %d, want %d", got, want)
			}
		}
		lastStep(s)

		// Replay: the same code again, in the same step, for a new login.
		w := e.StartLogin(ann, graphtest.Password).Token
		secWantField(t, secVerify(t, e, w, secCodeAt(t, secret, s)), "BAD_USER_INPUT", "code")
		lastStep(s)
		e.Clock.Advance(30 * time.Second)
		secVerified(t, secVerify(t, e, w, secCodeAt(t, secret, s+1)))
		lastStep(s + 1)

		// Skew: now-2 no, now-1 yes.
		e.Clock.Advance(5 * 30 * time.Second)
		n := secStep(e)
		w = e.StartLogin(ann, graphtest.Password).Token
		secWantField(t, secVerify(t, e, w, secCodeAt(t, secret, n-2)), "BAD_USER_INPUT", "code")
		lastStep(s + 1)
		secVerified(t, secVerify(t, e, w, secCodeAt(t, secret, n-1)))
		lastStep(n - 1)
		// now+1 yes.
		w = e.StartLogin(ann, graphtest.Password).Token
		secVerified(t, secVerify(t, e, w, secCodeAt(t, secret, n+1)))
		lastStep(n + 1)
		// Now the current step is older than the last accepted one: no.
		w = e.StartLogin(ann, graphtest.Password).Token
		secWantField(t, secVerify(t, e, w, secCodeAt(t, secret, n)), "BAD_USER_INPUT", "code")
		e.Clock.Advance(30 * time.Second) // now n+1: its code was used
		secWantField(t, secVerify(t, e, w, secCodeAt(t, secret, n+1)), "BAD_USER_INPUT", "code")
		lastStep(n + 1)
		// Malformed codes are plain wrong codes (5 wrong codes end a
		// session: this one has had 2).
		for _, c := range []string{"", "12345"} {
			secWantField(t, secVerify(t, e, w, c), "BAD_USER_INPUT", "code")
		}
		e.Clock.Advance(30 * time.Second) // n+2: fresh
		secVerified(t, secVerify(t, e, w, secCodeAt(t, secret, n+2)))
		lastStep(n + 2)

		// Five wrong codes.
		e.Clock.Advance(30 * time.Second)
		right := secCodeAt(t, secret, secStep(e))
		wrong := secWrongCode(t, e, secret)
		w = e.StartLogin(ann, graphtest.Password).Token
		for _, c := range []string{wrong, "abcdef", "1234567", wrong, " 12 34"} {
			secWantField(t, secVerify(t, e, w, c), "BAD_USER_INPUT", "code")
		}
		secWant(t, secVerify(t, e, w, right), "UNAUTHENTICATED")
		secDead(t, e, w)
		lastStep(n + 2)

		// Four wrong codes are allowed, and the unused right code passes.
		w = e.StartLogin(ann, graphtest.Password).Token
		for i := 1; i <= 4; i++ {
			secWantField(t, secVerify(t, e, w, wrong), "BAD_USER_INPUT", "code")
		}
		secAlive(t, e, secVerified(t, secVerify(t, e, w, right)), ann)
		lastStep(n + 3)
	})
}

// TestAuthWaitingSession: before the code, a session can call
// verifyTwoFactor and logout and nothing else, and those refusals change
// nothing. verifyTwoFactor without a session, with a bogus one or with a
// full session is UNAUTHENTICATED and consumes no code.
func TestAuthWaitingSession(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		full, annID := secOrg(t, e, ann)
		vicID := e.Invite(full, "vic@example.com", "Vic", "VIEWER")
		w := e.StartLogin(ann, graphtest.Password).Token

		vars := map[string]any{"id": vicID}
		for _, q := range []string{
			`{ me { id } }`,
			`{ users { totalCount nodes { id } } }`,
			`{ roles { role } }`,
			`query($id: ID!) { user(id: $id) { id } }`,
			`{ auditLog { nodes { action } } }`,
			`mutation { createUser(input: {email: "new@example.com", name: "New", role: VIEWER}) { user { id } } }`,
			`mutation($id: ID!) { changeRole(input: {userId: $id, role: CREATOR}) { user { id } } }`,
			`mutation($id: ID!) { resendInvitation(input: {userId: $id}) { user { id } } }`,
			`mutation($id: ID!) { removeUser(input: {userId: $id}) { removedUserId } }`,
		} {
			secWant(t, secPost(t, e, w, q, vars), "UNAUTHENTICATED")
		}
		if _, err := e.DB.UserByEmail(context.Background(), "new@example.com"); portal.KindOf(err) != portal.KindNotFound {
			t.Fatalf("createUser by a waiting session: %v", err)
		}
		if v := secUser(t, e, "vic@example.com"); v.Role != access.Viewer || v.ID != vicID {
			t.Fatalf("vic changed: %+v", v)
		}
		if n := len(e.Deliver()); n != 1 { // vic's invitation only
			t.Fatalf("%d emails, want 1", n)
		}

		// verifyTwoFactor needs the waiting session.
		e.Clock.Advance(30 * time.Second)
		code := secCodeAt(t, e.Secret(ann), secStep(e))
		before := secUser(t, e, ann).TOTPLastStep
		secWant(t, secVerify(t, e, "", code), "UNAUTHENTICATED")
		secWant(t, secVerify(t, e, portal.NewToken(), code), "UNAUTHENTICATED")
		r := secVerify(t, e, full, code)
		secWant(t, r, "UNAUTHENTICATED")
		for _, c := range r.Cookies {
			if c.Name == "portal_session" {
				t.Fatalf("verifyTwoFactor on a full session set a cookie %+v", c)
			}
		}
		if got := secUser(t, e, ann).TOTPLastStep; got != before {
			t.Fatalf("totp_last_step %d -> %d", before, got)
		}
		secAlive(t, e, full, ann)

		// The waiting session is still good for its code.
		full2 := secVerified(t, secVerify(t, e, w, code))
		var me struct{ Me struct{ ID string } }
		secOK(t, secPost(t, e, full2, `{ me { id } }`, nil), &me)
		if me.Me.ID != annID {
			t.Fatalf("me = %+v", me)
		}

		// Logout ends a waiting session.
		w2 := e.StartLogin(ann, graphtest.Password).Token
		var out struct{ Logout bool }
		secOK(t, secPost(t, e, w2, `mutation { logout }`, nil), &out)
		if !out.Logout {
			t.Fatal("logout = false")
		}
		e.Clock.Advance(30 * time.Second)
		secWant(t, secVerify(t, e, w2, secCodeAt(t, e.Secret(ann), secStep(e))), "UNAUTHENTICATED")
		secAlive(t, e, full, ann)
		secAlive(t, e, full2, ann)
	})
}

// TestAuthLoginRateLimitPerAccount: the account's budget holds whatever
// the password, and aliases in one request spend it one by one; 2FA
// codes have their own budget.
func TestAuthLoginRateLimitPerAccount(t *testing.T) {
	t.Parallel()
	tight := secLimits(func(l *portal.Limits) {
		l.LoginPerAccount = portal.Limit{Rate: 3, Burst: 3, Period: time.Hour}
		l.TwoFactorPerAccount = portal.Limit{Rate: 4, Burst: 4, Period: time.Hour}
	})
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann, bob, cat = "ann@example.com", "bob@example.com", "cat@example.com"
		_, annID := secOrg(t, e, ann) // one login and one code of ann's
		secSeed(t, e, annID, bob, access.Viewer)
		secSeed(t, e, annID, cat, access.Viewer)

		for i := 0; i < 3; i++ {
			secWant(t, secLogin(t, e, bob, "wrong password number "+fmt.Sprint(i)), "UNAUTHENTICATED")
		}
		for _, email := range []string{bob, "  BOB@Example.com "} {
			r := secLogin(t, e, email, graphtest.Password)
			secWant(t, r, "RATE_LIMITED")
			if s, _ := r.Errors[0].Extensions["retryAfterSeconds"].(float64); s <= 0 {
				t.Fatalf("retryAfterSeconds = %v", r.Errors[0].Extensions["retryAfterSeconds"])
			}
		}

		// 20 aliases (the most one request may have) are 20 attempts.
		var q strings.Builder
		q.WriteString("mutation($e: String!, $p: String!) {")
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&q, " a%d: login(input: {email: $e, password: $p}) { token }", i)
		}
		q.WriteString(" }")
		r := secPost(t, e, "", q.String(), map[string]any{"e": cat, "p": "a wrong password"})
		count := map[string]int{}
		for _, er := range r.Errors {
			c, _ := er.Extensions["code"].(string)
			count[c]++
		}
		if len(r.Errors) != 20 || count["UNAUTHENTICATED"] != 3 || count["RATE_LIMITED"] != 17 {
			t.Fatalf("20 aliases: %v", count)
		}
		secWant(t, secLogin(t, e, cat, graphtest.Password), "RATE_LIMITED")

		// ann's 2FA budget: 4, one spent signing in. The 4th code of this
		// login is refused even though it is right, and not consumed.
		e.Clock.Advance(30 * time.Second)
		w := e.StartLogin(ann, graphtest.Password).Token
		wrong := secWrongCode(t, e, e.Secret(ann))
		for i := 0; i < 3; i++ {
			secWantField(t, secVerify(t, e, w, wrong), "BAD_USER_INPUT", "code")
		}
		before := secUser(t, e, ann).TOTPLastStep
		secWant(t, secVerify(t, e, w, secCodeAt(t, e.Secret(ann), secStep(e))), "RATE_LIMITED")
		if got := secUser(t, e, ann).TOTPLastStep; got != before {
			t.Fatalf("a throttled code was consumed: %d -> %d", before, got)
		}
	}, tight)
}

// TestAuthRateLimitPerIP: one client address has one login budget across
// accounts (once spent, even the right password is refused); the reset
// requests and the link flows are throttled too.
func TestAuthRateLimitPerIP(t *testing.T) {
	t.Parallel()
	tight := secLimits(func(l *portal.Limits) {
		l.LoginPerIP = portal.Limit{Rate: 3, Burst: 3, Period: time.Hour}
		l.ResetPerAccount = portal.Limit{Rate: 2, Burst: 2, Period: time.Hour}
		l.ResetPerIP = portal.Limit{Rate: 4, Burst: 4, Period: time.Hour}
		l.TokenPerIP = portal.Limit{Rate: 2, Burst: 2, Period: time.Hour}
	})
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		org := &portal.Organization{Name: "Acme", CreatedAt: e.Clock.Now()}
		if err := e.DB.CreateOrganization(context.Background(), org); err != nil {
			t.Fatal(err)
		}
		e.SeedUser(&portal.User{OrgID: org.ID, Email: "ann@example.com", Name: "Ann", Role: access.SuperAdmin})
		for i := 0; i < 3; i++ {
			secWant(t, secLogin(t, e, fmt.Sprintf("nobody%d@example.com", i), graphtest.Password), "UNAUTHENTICATED")
		}
		secWant(t, secLogin(t, e, "nobody9@example.com", graphtest.Password), "RATE_LIMITED")
		secWant(t, secLogin(t, e, "ann@example.com", graphtest.Password), "RATE_LIMITED")

		// requestPasswordReset: 2 per account, 4 per IP (whether an attempt
		// refused for its account spends the IP's budget is not fixed here).
		ask := func(email string) *graphtest.Response {
			t.Helper()
			return secPost(t, e, "", `mutation($e: String!) { requestPasswordReset(input: {email: $e}) }`, map[string]any{"e": email})
		}
		secOK(t, ask("ann@example.com"), nil)
		secOK(t, ask("ann@example.com"), nil)
		secWant(t, ask("ANN@example.com"), "RATE_LIMITED")
		secOK(t, ask("nobody@example.com"), nil)
		if r := ask("other1@example.com"); r.Code() != "" && r.Code() != "RATE_LIMITED" {
			t.Fatalf("requestPasswordReset: %+v", r.Errors)
		}
		secWant(t, ask("other2@example.com"), "RATE_LIMITED")

		// acceptInvitation and resetPassword share 2 per IP.
		accept := `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id } } }`
		reset := `mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, password: $p}) }`
		secWantField(t, secPost(t, e, "", accept, map[string]any{"t": portal.NewToken(), "p": "short"}), "BAD_USER_INPUT", "password")
		secWantField(t, secPost(t, e, "", reset, map[string]any{"t": portal.NewToken(), "p": "short"}), "BAD_USER_INPUT", "password")
		secWant(t, secPost(t, e, "", accept, map[string]any{"t": portal.NewToken(), "p": "short"}), "RATE_LIMITED")
		secWant(t, secPost(t, e, "", reset, map[string]any{"t": e.LinkToken("ann@example.com", "reset-password"), "p": graphtest.Password}), "RATE_LIMITED")
	}, tight)
}

// One client guessing an account's password exhausts only its own budget
// for that account: the owner, elsewhere, can still sign in. Guessing
// spread over many clients meets the account's overall budget.
func TestAuthLoginLockoutIsPerClient(t *testing.T) {
	t.Parallel()
	tight := secLimits(func(l *portal.Limits) {
		l.LoginPerAccount = portal.Limit{Rate: 3, Burst: 3, Period: time.Hour}
		l.LoginPerAccountAnyIP = portal.Limit{Rate: 8, Burst: 8, Period: time.Hour}
	})
	e := graphtest.New(t, graphtest.SQLiteMemory, tight)
	const ann = "ann@example.com"
	secOrg(t, e, ann) // one login of ann's, from loopback
	from := func(ip, password string) *graphtest.Response {
		body, _ := json.Marshal(map[string]any{"query": `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step } }`,
			"variables": map[string]any{"e": ann, "p": password}})
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", ip)
		r := e.Send(req)
		secCheck(t, r)
		return r
	}
	for i := 0; i < 3; i++ {
		secWant(t, from("198.51.100.9", "a wrong guess "+fmt.Sprint(i)), "UNAUTHENTICATED")
	}
	secWant(t, from("198.51.100.9", graphtest.Password), "RATE_LIMITED")
	if r := from("203.0.113.5", graphtest.Password); len(r.Errors) != 0 {
		t.Fatalf("the owner, from another address, was refused: %+v", r.Errors)
	}
	// The account's overall budget of 8 has paid for secOrg's login, the
	// 3 guesses and the owner's login (the refused attempt cost it
	// nothing); three more clients spend the rest.
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.4"} {
		secWant(t, from(ip, "guess"), "UNAUTHENTICATED")
	}
	secWant(t, from("192.0.2.3", graphtest.Password), "RATE_LIMITED")
}

// A password thief can't guess TOTP codes slowly forever: after
// MaxWrongCodesPerDay wrong codes in a day, even the right code is refused
// until the day is over, the lock is in the audit log, and an admin's 2FA
// reset lifts it.
func TestAuthWrongCodesPerDay(t *testing.T) {
	t.Parallel()
	perDay := func(c *portal.Config) { c.MaxWrongCodesPerDay = 7 }
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann, bob = "ann@example.com", "bob@example.com"
		admin, annID := secOrg(t, e, ann)
		bobID := secSeed(t, e, annID, bob, access.Viewer)
		secMe(t, e, e.SignIn(bob, graphtest.Password)) // enrolled

		wrongs := 0
		guess := func(w string) {
			t.Helper()
			e.Clock.Advance(time.Minute)
			secWantField(t, secVerify(t, e, w, secWrongCode(t, e, e.Secret(bob))), "BAD_USER_INPUT", "code")
			wrongs++
		}
		for wrongs < 7 {
			w := e.StartLogin(bob, graphtest.Password).Token
			for i := 0; i < 5 && wrongs < 7; i++ {
				guess(w)
			}
		}
		w := e.StartLogin(bob, graphtest.Password).Token
		r := secVerify(t, e, w, e.Code(bob))
		secWant(t, r, "RATE_LIMITED")
		if s, _ := r.Errors[0].Extensions["retryAfterSeconds"].(float64); s < 3600 {
			t.Fatalf("retryAfterSeconds = %v, want most of a day", s)
		}
		var log struct {
			AuditLog struct {
				Nodes []struct{ Action, TargetID string }
			}
		}
		admin = e.SignIn(ann, graphtest.Password) // the clock moved past the idle timeout
		secOK(t, secPost(t, e, admin, `{ auditLog(first: 5) { nodes { action targetId } } }`, nil), &log)
		locked := 0
		for _, n := range log.AuditLog.Nodes {
			if n.Action == "TWO_FACTOR_LOCKED" && n.TargetID == bobID {
				locked++
			}
		}
		if locked != 1 {
			t.Fatalf("audit log: %+v (want one TWO_FACTOR_LOCKED for bob)", log.AuditLog.Nodes)
		}

		// A day after the first wrong code, the right code passes again.
		e.Clock.Advance(24 * time.Hour)
		admin = e.SignIn(ann, graphtest.Password)
		secMe(t, e, e.SignIn(bob, graphtest.Password))

		// Lock again; an admin's 2FA reset lifts it (bob enrols anew).
		for wrongs = 0; wrongs < 7; {
			w := e.StartLogin(bob, graphtest.Password).Token
			for i := 0; i < 5 && wrongs < 7; i++ {
				guess(w)
			}
		}
		secWant(t, secVerify(t, e, e.StartLogin(bob, graphtest.Password).Token, e.Code(bob)), "RATE_LIMITED")
		admin = e.SignIn(ann, graphtest.Password)
		secOK(t, secPost(t, e, admin, `mutation($id: ID!) { resetTwoFactor(input: {userId: $id}) { user { id } } }`,
			map[string]any{"id": bobID}), nil)
		secMe(t, e, e.SignIn(bob, graphtest.Password))
	}, perDay)
}
