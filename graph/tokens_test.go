package graph_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

const (
	secAcceptQ = `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id email status } } }`
	secResetQ  = `mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, password: $p}) }`
	secAskQ    = `mutation($e: String!) { requestPasswordReset(input: {email: $e}) }`
	secNewPw   = "a brand new passphrase"
)

// secState is what a refused token flow must leave alone.
type secState struct {
	Status       portal.Status
	PasswordHash string
}

func secStateOf(t testing.TB, e *graphtest.Env, email string) secState {
	t.Helper()
	u := secUser(t, e, email)
	return secState{u.Status, u.PasswordHash}
}

func secSame(t testing.TB, e *graphtest.Env, email string, want secState) {
	t.Helper()
	if got := secStateOf(t, e, email); got != want {
		t.Fatalf("%s changed: status %s -> %s, password changed: %v", email, want.Status, got.Status, got.PasswordHash != want.PasswordHash)
	}
}

// TestTokensAcceptInvitation: unknown, used, replaced and expired
// invitation links are BAD_USER_INPUT on token and change nothing; the
// password policy counts characters, refuses the email, and a refused
// password leaves the link usable.
func TestTokensAcceptInvitation(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const bob, dave, erin, carl, fay = "bob@example.com", "dave@example.com", "erin@example.com", "carl@example.com", "fay@example.com"
		admin, _ := secOrg(t, e, "ann@example.com")
		accept := func(tok, pw string) *graphtest.Response {
			t.Helper()
			return secPost(t, e, "", secAcceptQ, map[string]any{"t": tok, "p": pw})
		}
		invited := secState{Status: portal.StatusInvited}
		for _, email := range []string{bob, dave, erin, carl, fay} {
			e.Invite(admin, email, strings.ToUpper(email[:1])+email[1:strings.Index(email, "@")], "VIEWER")
		}
		bobTok := e.LinkToken(bob, "accept-invitation")

		// Unknown tokens.
		for _, tok := range []string{portal.NewToken(), "", strings.Repeat("x", 129)} {
			secWantField(t, accept(tok, graphtest.Password), "BAD_USER_INPUT", "token")
		}
		secSame(t, e, bob, invited)

		// Used: the second accept fails and changes nothing.
		var out struct {
			AcceptInvitation struct {
				User struct{ Email, Status string }
			}
		}
		secOK(t, accept(bobTok, graphtest.Password), &out)
		if out.AcceptInvitation.User.Email != bob || out.AcceptInvitation.User.Status != "ACTIVE" {
			t.Fatalf("accept = %+v", out)
		}
		active := secStateOf(t, e, bob)
		secWantField(t, accept(bobTok, secNewPw), "BAD_USER_INPUT", "token")
		secSame(t, e, bob, active)

		// Replaced: resendInvitation kills the older link.
		old := e.LinkToken(dave, "accept-invitation")
		var re struct {
			ResendInvitation struct{ User struct{ ID string } }
		}
		secOK(t, secPost(t, e, admin, `mutation($id: ID!) { resendInvitation(input: {userId: $id}) { user { id } } }`,
			map[string]any{"id": secUser(t, e, dave).ID}), &re)
		fresh := e.LinkToken(dave, "accept-invitation")
		if fresh == old {
			t.Fatal("resendInvitation sent the same link")
		}
		secWantField(t, accept(old, graphtest.Password), "BAD_USER_INPUT", "token")
		secSame(t, e, dave, invited)

		// Password policy on the fresh link: refusals leave it usable.
		for _, pw := range []string{
			strings.Repeat("a", 11),
			strings.Repeat("é", 11), // 22 bytes, 11 characters
			strings.Repeat("a", 129),
			"DAVE@EXAMPLE.COM",
			" Dave@Example.com ",
		} {
			secWantField(t, accept(fresh, pw), "BAD_USER_INPUT", "password")
			secSame(t, e, dave, invited)
		}
		secOK(t, accept(fresh, strings.Repeat("a", 12)), nil)
		if got := secStateOf(t, e, dave); got.Status != portal.StatusActive || got.PasswordHash == "" {
			t.Fatalf("dave after accept: %+v", got)
		}
		erinTok := e.LinkToken(erin, "accept-invitation")
		secWantField(t, accept(erinTok, strings.Repeat("é", 129)), "BAD_USER_INPUT", "password")
		secSame(t, e, erin, invited)
		secOK(t, accept(erinTok, strings.Repeat("é", 128)), nil)
		if got := secStateOf(t, e, erin); got.Status != portal.StatusActive {
			t.Fatalf("erin after accept: %+v", got)
		}

		// Expiry: 72 hours.
		carlTok, fayTok := e.LinkToken(carl, "accept-invitation"), e.LinkToken(fay, "accept-invitation")
		e.Clock.Advance(72*time.Hour - time.Second)
		secOK(t, accept(fayTok, graphtest.Password), nil)
		e.Clock.Advance(2 * time.Second)
		secWantField(t, accept(carlTok, graphtest.Password), "BAD_USER_INPUT", "token")
		secSame(t, e, carl, invited)
	})
}

// secResetLinks counts the password-reset emails delivered so far, by recipient.
func secResetLinks(e *graphtest.Env) map[string]int {
	n := map[string]int{}
	for _, m := range e.Deliver() {
		if strings.Contains(m.Link, "/reset-password#token=") {
			n[strings.ToLower(m.To)]++
		}
	}
	return n
}

// TestTokensRequestPasswordReset: "Forgot password?" answers alike for
// every email and mails only active users; the link sets the password
// once, within the hour, keeps the old password working until it is
// used, ends every session of the user and leaves 2FA on.
func TestTokensRequestPasswordReset(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann, bob, ivy = "ann@example.com", "bob@example.com", "ivy@example.com"
		admin, annID := secOrg(t, e, ann)
		secSeed(t, e, annID, bob, access.Viewer)
		full := e.SignIn(bob, graphtest.Password)
		e.Invite(admin, ivy, "Ivy", "VIEWER")

		var first *graphtest.Response
		for _, email := range []string{bob, "nobody@example.com", ivy} {
			r := secPost(t, e, "", secAskQ, map[string]any{"e": email})
			var out struct{ RequestPasswordReset bool }
			secOK(t, r, &out)
			if !out.RequestPasswordReset {
				t.Fatalf("requestPasswordReset(%s) = false", email)
			}
			if first != nil && (string(r.Data) != string(first.Data) || r.Status != first.Status) {
				t.Fatalf("requestPasswordReset(%s) answers %d %s, for %s: %d %s", email, r.Status, r.Data, bob, first.Status, first.Data)
			}
			first = r
		}
		if n := secResetLinks(e); len(n) != 1 || n[bob] != 1 {
			t.Fatalf("reset emails: %v, want one to %s", n, bob)
		}
		for _, bad := range []string{"not-an-email", "", "a@b@example.com", strings.Repeat("x", 250) + "@example.com"} {
			secWantField(t, secPost(t, e, "", secAskQ, map[string]any{"e": bad}), "BAD_USER_INPUT", "email")
		}
		if n := secResetLinks(e); len(n) != 1 || n[bob] != 1 {
			t.Fatalf("reset emails: %v, want one to %s", n, bob)
		}
		tok := e.LinkToken(bob, "reset-password")

		// Until the link is used, the old password works.
		waiting := e.StartLogin(bob, graphtest.Password)
		if waiting.Step != "TWO_FACTOR_REQUIRED" {
			t.Fatalf("login = %+v", waiting)
		}
		before := secStateOf(t, e, bob)
		secWantField(t, secPost(t, e, "", secResetQ, map[string]any{"t": tok, "p": "too short"}), "BAD_USER_INPUT", "password")
		secSame(t, e, bob, before)

		var out struct{ ResetPassword bool }
		secOK(t, secPost(t, e, "", secResetQ, map[string]any{"t": tok, "p": secNewPw}), &out)
		if !out.ResetPassword {
			t.Fatal("resetPassword = false")
		}
		// Every session of bob ended; other users' did not.
		secDead(t, e, full)
		secWant(t, secVerify(t, e, waiting.Token, e.Code(bob)), "UNAUTHENTICATED")
		secAlive(t, e, admin, ann)
		// The old password is dead, the new one works, 2FA is still asked.
		secWant(t, secLogin(t, e, bob, graphtest.Password), "UNAUTHENTICATED")
		after := e.StartLogin(bob, secNewPw)
		if after.Step != "TWO_FACTOR_REQUIRED" || after.Enrollment != nil {
			t.Fatalf("login after reset = %+v", after)
		}
		// Single use.
		reset := secStateOf(t, e, bob)
		secWantField(t, secPost(t, e, "", secResetQ, map[string]any{"t": tok, "p": "yet another passphrase"}), "BAD_USER_INPUT", "token")
		secSame(t, e, bob, reset)

		// Expiry: one hour.
		secOK(t, secPost(t, e, "", secAskQ, map[string]any{"e": bob}), nil)
		late := e.LinkToken(bob, "reset-password")
		e.Clock.Advance(time.Hour + time.Second)
		secWantField(t, secPost(t, e, "", secResetQ, map[string]any{"t": late, "p": "yet another passphrase"}), "BAD_USER_INPUT", "token")
		secSame(t, e, bob, reset)
	})
}

// TestTokensAdminPasswordReset: a Super Admin's sendPasswordReset to an
// Admin works like the self-service link, and a newer link kills the
// older one.
func TestTokensAdminPasswordReset(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const carl = "carl@example.com"
		admin, annID := secOrg(t, e, "ann@example.com")
		carlID := secSeed(t, e, annID, carl, access.Admin)
		full := e.SignIn(carl, graphtest.Password)
		send := func() string {
			t.Helper()
			var out struct {
				SendPasswordReset struct{ User struct{ ID string } }
			}
			secOK(t, secPost(t, e, admin, `mutation($id: ID!) { sendPasswordReset(input: {userId: $id}) { user { id } } }`,
				map[string]any{"id": carlID}), &out)
			if out.SendPasswordReset.User.ID != carlID {
				t.Fatalf("sendPasswordReset = %+v", out)
			}
			return e.LinkToken(carl, "reset-password")
		}
		older := send()
		secAlive(t, e, full, carl) // sending a link ends nothing
		newer := send()
		if newer == older {
			t.Fatal("the same link twice")
		}
		before := secStateOf(t, e, carl)
		secWantField(t, secPost(t, e, "", secResetQ, map[string]any{"t": older, "p": secNewPw}), "BAD_USER_INPUT", "token")
		secSame(t, e, carl, before)
		// The old password still works until the link is used.
		if w := e.StartLogin(carl, graphtest.Password); w.Step != "TWO_FACTOR_REQUIRED" {
			t.Fatalf("login = %+v", w)
		}

		secOK(t, secPost(t, e, "", secResetQ, map[string]any{"t": newer, "p": secNewPw}), nil)
		secDead(t, e, full)
		secWant(t, secLogin(t, e, carl, graphtest.Password), "UNAUTHENTICATED")
		if w := e.StartLogin(carl, secNewPw); w.Step != "TWO_FACTOR_REQUIRED" || w.Enrollment != nil {
			t.Fatalf("login after reset = %+v", w)
		}
		reset := secStateOf(t, e, carl)
		secWantField(t, secPost(t, e, "", secResetQ, map[string]any{"t": newer, "p": "yet another passphrase"}), "BAD_USER_INPUT", "token")
		secSame(t, e, carl, reset)
	})
}
