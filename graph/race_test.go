package graph_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal/graph/graphtest"
)

// These tests fire the same request from many goroutines at once, through
// the real HTTP API, on both backends. The goroutines only collect what they
// got; every assertion runs on the test goroutine after they are done. The
// tests run in parallel with each other (each has its own databases and
// session namespace): most of their time is argon2id under -race.

// result is one concurrent request's outcome.
type result struct {
	r   *graphtest.Response
	err error
}

// code is the response's extensions.code ("" on success), or "TRANSPORT"
// when the request itself failed.
func (r result) code() string {
	if r.err != nil {
		return "TRANSPORT"
	}
	return r.r.Code()
}

func (r result) String() string {
	if r.err != nil {
		return "transport error: " + r.err.Error()
	}
	return fmt.Sprintf("data=%s errors=%+v", r.r.Data, r.r.Errors)
}

// parallel runs n calls of fn at the same moment (they all wait on one
// start signal) and returns their results in call order.
func parallel(n int, fn func(i int) (*graphtest.Response, error)) []result {
	out := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := fn(i)
			out[i] = result{r, err}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// domainCodes are the codes a request may legitimately end with when it
// loses a race; anything else (INTERNAL above all) is a bug.
var domainCodes = []string{"BAD_USER_INPUT", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "UNAUTHENTICATED"}

type auditEntry struct {
	ID, Action            string
	TargetID              *string
	BeforeRole, AfterRole *string
}

// auditLog reads the whole audit log, oldest first.
func auditLog(t *testing.T, e *graphtest.Env, token string) []auditEntry {
	t.Helper()
	var all []auditEntry
	var after any
	for {
		var out struct {
			AuditLog struct {
				Nodes    []auditEntry
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		e.MustPost(token, `query($after: String) { auditLog(first: 100, after: $after) {
			nodes { id action targetId beforeRole afterRole } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}, &out)
		all = append(all, out.AuditLog.Nodes...)
		if !out.AuditLog.PageInfo.HasNextPage {
			break
		}
		after = out.AuditLog.PageInfo.EndCursor
	}
	slices.Reverse(all)
	return all
}

// roleChanges are the ROLE_CHANGED entries about target, oldest first.
func roleChanges(t *testing.T, e *graphtest.Env, token, target string) []auditEntry {
	t.Helper()
	var out []auditEntry
	for _, a := range auditLog(t, e, token) {
		if a.Action == "ROLE_CHANGED" && a.TargetID != nil && *a.TargetID == target {
			out = append(out, a)
		}
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func roleOf(t *testing.T, e *graphtest.Env, token, id string) string {
	t.Helper()
	var out struct{ User *struct{ Role string } }
	e.MustPost(token, `query($id: ID!) { user(id: $id) { role } }`, map[string]any{"id": id}, &out)
	if out.User == nil {
		t.Fatalf("user %s not found", id)
	}
	return out.User.Role
}

const changeRoleMutation = `mutation($id: ID!, $r: Role!) { changeRole(input: {userId: $id, role: $r}) { user { id role } } }`

// TestRaceChangeRoleTwoAdmins: two Super Admins change one user's role at
// the same time. The row lock serialises them: each call succeeds or fails
// with a domain error, the audit trail is an unbroken chain (each change's
// before is the previous change's after: no lost update), and the user
// ends with the role of the last recorded change.
func TestRaceChangeRoleTwoAdmins(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ann, annID := e.CreateOrganization("Acme", "ann@example.com")
		e.Seed(e.OrgOf(annID), "sam@example.com", "Sam", "SUPER_ADMIN")
		sam := e.SignIn("sam@example.com", graphtest.Password)
		target := e.Invite(ann, "cleo@example.com", "Cleo", "CREATOR")

		succeeded := 0
		for round := range 10 {
			if role := roleOf(t, e, ann, target); role != "CREATOR" {
				var out struct{}
				e.MustPost(ann, changeRoleMutation, map[string]any{"id": target, "r": "CREATOR"}, &out)
				succeeded++
			}
			tokens := []string{ann, sam}
			roles := []string{"VIEWER", "ADMIN"}
			if round%2 == 1 { // swap who asks for what
				tokens[0], tokens[1] = sam, ann
			}
			res := parallel(2, func(i int) (*graphtest.Response, error) {
				return e.TryPost(tokens[i], changeRoleMutation, map[string]any{"id": target, "r": roles[i]})
			})
			for i, r := range res {
				switch c := r.code(); {
				case c == "":
					succeeded++
				case slices.Contains(domainCodes, c):
					t.Logf("round %d: change to %s lost with %s", round, roles[i], c)
				default:
					t.Fatalf("round %d: change to %s: %s", round, roles[i], r)
				}
			}
			changes := roleChanges(t, e, ann, target)
			if got, want := roleOf(t, e, ann, target), str(changes[len(changes)-1].AfterRole); got != want {
				t.Fatalf("round %d: role is %s, but the newest ROLE_CHANGED entry says %s", round, got, want)
			}
		}

		changes := roleChanges(t, e, ann, target)
		if len(changes) != succeeded {
			t.Fatalf("%d successful role changes, %d ROLE_CHANGED entries", succeeded, len(changes))
		}
		prev := "CREATOR"
		for i, c := range changes {
			if str(c.BeforeRole) != prev {
				t.Fatalf("entry %d (%s): beforeRole %s, but the previous change left %s (lost update)",
					i, c.ID, str(c.BeforeRole), prev)
			}
			if str(c.AfterRole) == prev {
				t.Fatalf("entry %d: a change from %s to itself was recorded", i, prev)
			}
			prev = str(c.AfterRole)
		}
		if got := roleOf(t, e, ann, target); got != prev {
			t.Fatalf("final role %s, last recorded change made it %s", got, prev)
		}
	})
}

const acceptMutation = `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id status } } }`
const resetMutation = `mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, password: $p}) }`

// racePasswords are twenty valid, distinct passwords.
func racePasswords() []string {
	pw := make([]string, 20)
	for i := range pw {
		pw[i] = fmt.Sprintf("racing password number %02d", i)
	}
	return pw
}

// oneWinner checks that exactly one of res succeeded and every other one
// was refused as a bad token; it returns the winner's index.
func oneWinner(t *testing.T, res []result) int {
	t.Helper()
	winner := -1
	for i, r := range res {
		switch {
		case r.code() == "":
			if winner >= 0 {
				t.Fatalf("requests %d and %d both redeemed the token", winner, i)
			}
			winner = i
		case r.code() != "BAD_USER_INPUT" || r.r.Field() != "token":
			t.Fatalf("request %d: want BAD_USER_INPUT on field token, got %s", i, r)
		}
	}
	if winner < 0 {
		t.Fatal("no request redeemed the token")
	}
	return winner
}

// checkPasswords: the winner's password logs in; the old ones and the
// losers' don't. The stored hash is of one password, so once the winner's
// works, two losers (the neighbours of the winner, so a different pair each
// run) stand for all of them: argon2id is too slow under -race to try 19.
func checkPasswords(t *testing.T, e *graphtest.Env, email string, winner int, pw []string, old ...string) {
	t.Helper()
	if r := e.Login(email, pw[winner]); len(r.Errors) > 0 {
		t.Fatalf("login with the winning password: %+v", r.Errors)
	}
	losers := append([]string(nil), old...)
	losers = append(losers, pw[(winner+1)%len(pw)], pw[(winner+len(pw)-1)%len(pw)])
	res := parallel(len(losers), func(i int) (*graphtest.Response, error) {
		return e.TryPost("", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step } }`,
			map[string]any{"e": email, "p": losers[i]})
	})
	for i, r := range res {
		if r.code() != "UNAUTHENTICATED" {
			t.Fatalf("login with losing password %q: want UNAUTHENTICATED, got %s", losers[i], r)
		}
	}
}

// TestRaceParallelAcceptInvitation: twenty acceptInvitation calls with one
// token: one wins, the rest are told the link is used, and the password is
// the winner's.
func TestRaceParallelAcceptInvitation(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ann, _ := e.CreateOrganization("Acme", "ann@example.com")
		id := e.Invite(ann, "ivy@example.com", "Ivy", "VIEWER")
		tok := e.LinkToken("ivy@example.com", "accept-invitation")
		pw := racePasswords()

		res := parallel(len(pw), func(i int) (*graphtest.Response, error) {
			return e.TryPost("", acceptMutation, map[string]any{"t": tok, "p": pw[i]})
		})
		winner := oneWinner(t, res)
		var out struct {
			AcceptInvitation struct{ User struct{ ID, Status string } }
		}
		res[winner].r.Decode(t, &out)
		if u := out.AcceptInvitation.User; u.ID != id || u.Status != "ACTIVE" {
			t.Fatalf("winner got %+v", u)
		}
		checkPasswords(t, e, "ivy@example.com", winner, pw)

		accepted := 0
		for _, a := range auditLog(t, e, ann) {
			if a.Action == "INVITATION_ACCEPTED" {
				accepted++
			}
		}
		if accepted != 2 { // Ann's own and Ivy's
			t.Fatalf("%d INVITATION_ACCEPTED entries, want 2", accepted)
		}
	})
}

// TestRaceParallelResetPassword: twenty resetPassword calls with one reset
// token: one wins, the rest are refused, and only the winner's password
// logs in (the old one no longer does).
func TestRaceParallelResetPassword(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ann, _ := e.CreateOrganization("Acme", "ann@example.com")
		id, rita := e.NewUser(ann, "rita@example.com", "Rita", "VIEWER")
		var sent struct{}
		e.MustPost(ann, `mutation($id: ID!) { sendPasswordReset(input: {userId: $id}) { user { id } } }`,
			map[string]any{"id": id}, &sent)
		tok := e.LinkToken("rita@example.com", "reset-password")
		pw := racePasswords()

		res := parallel(len(pw), func(i int) (*graphtest.Response, error) {
			return e.TryPost("", resetMutation, map[string]any{"t": tok, "p": pw[i]})
		})
		winner := oneWinner(t, res)
		if string(res[winner].r.Data) != `{"resetPassword":true}` {
			t.Fatalf("winner got %s", res[winner].r.Data)
		}
		if r := e.Post(rita, `{ me { id } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("Rita's session survived the reset: %+v", r.Errors)
		}
		checkPasswords(t, e, "rita@example.com", winner, pw, graphtest.Password)
	})
}

// TestRaceRemovalDuringRequests: a Viewer keeps querying from several
// goroutines while an admin removes them. Every request either succeeds
// (it got in before) or is UNAUTHENTICATED; none fails otherwise; and
// every request sent after removeUser returned is UNAUTHENTICATED.
func TestRaceRemovalDuringRequests(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ann, _ := e.CreateOrganization("Acme", "ann@example.com")
		vicID, vic := e.NewUser(ann, "vic@example.com", "Vic", "VIEWER")

		queries := []string{`{ me { id } }`, `{ users(first: 5) { nodes { id } } }`}
		type outcome struct {
			afterRemoval bool // sent after removeUser had returned
			query        string
			result
		}
		var (
			removed   atomic.Bool
			stop      atomic.Bool
			successes atomic.Int64
			wg        sync.WaitGroup
		)
		const workers, tail = 6, 10
		outcomes := make([][]outcome, workers)
		deadline := time.Now().Add(15 * time.Second)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				left := tail
				for i := 0; left > 0 && !stop.Load() && time.Now().Before(deadline); i++ {
					q := queries[(w+i)%len(queries)]
					after := removed.Load()
					r, err := e.TryPost(vic, q, nil)
					outcomes[w] = append(outcomes[w], outcome{after, q, result{r, err}})
					if err == nil && r.Code() == "" {
						successes.Add(1)
					}
					if after {
						left--
					}
				}
			}()
		}
		// Let every worker get going before the removal.
		for successes.Load() < 2*workers && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		rm := e.Post(ann, `mutation($id: ID!) { removeUser(input: {userId: $id}) { removedUserId } }`,
			map[string]any{"id": vicID})
		if len(rm.Errors) == 0 {
			removed.Store(true)
		} else {
			stop.Store(true)
		}
		wg.Wait()
		if len(rm.Errors) > 0 {
			t.Fatalf("removeUser: %+v", rm.Errors)
		}

		var ok, refused, late, bad int
		for _, ws := range outcomes {
			for _, o := range ws {
				c := o.code()
				switch {
				case o.afterRemoval:
					late++
					if c != "UNAUTHENTICATED" {
						bad++
						if bad <= 5 {
							t.Errorf("%s sent after removeUser returned: want UNAUTHENTICATED, got %s", o.query, o.result)
						}
					}
				case c == "":
					ok++
				case c == "UNAUTHENTICATED":
					refused++
				default:
					bad++
					if bad <= 5 {
						t.Errorf("%s during the removal: want success or UNAUTHENTICATED, got %s", o.query, o.result)
					}
				}
			}
		}
		t.Logf("before removeUser returned: %d succeeded, %d refused; after: %d sent", ok, refused, late)
		if bad > 0 {
			t.Fatalf("%d requests ended wrongly", bad)
		}
		if ok == 0 || late != workers*tail {
			t.Fatalf("the race did not happen: %d successes, %d requests after the removal", ok, late)
		}

		var list struct {
			Users struct{ Nodes []struct{ ID, Email string } }
		}
		e.MustPost(ann, `{ users(first: 100) { nodes { id email } } }`, nil, &list)
		for _, u := range list.Users.Nodes {
			if u.ID == vicID || u.Email == "vic@example.com" {
				t.Fatalf("removed user still listed: %+v", u)
			}
		}
		if r := e.Login("vic@example.com", graphtest.Password); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("login after removal: want UNAUTHENTICATED, got data=%s errors=%+v", r.Data, r.Errors)
		}
	})
}

// TestConcurrentCreateUserSameEmail: two admins create the same address
// (in different letter cases) at once: one succeeds, the other is
// CONFLICT, and only one invitation is emailed.
func TestConcurrentCreateUserSameEmail(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ann, annID := e.CreateOrganization("Acme", "ann@example.com")
		e.Seed(e.OrgOf(annID), "sam@example.com", "Sam", "SUPER_ADMIN")
		sam := e.SignIn("sam@example.com", graphtest.Password)
		tokens := []string{ann, sam}

		const rounds = 5
		for round := range rounds {
			emails := []string{fmt.Sprintf("Dora.%d@Example.com", round), fmt.Sprintf("dora.%d@EXAMPLE.COM", round)}
			res := parallel(2, func(i int) (*graphtest.Response, error) {
				return e.TryPost(tokens[i], `mutation($e: String!, $n: String!) { createUser(input: {email: $e, name: $n, role: VIEWER}) { user { id email } } }`,
					map[string]any{"e": emails[i], "n": fmt.Sprintf("Dora %d", i)})
			})
			var ok, conflict int
			for i, r := range res {
				switch r.code() {
				case "":
					ok++
				case "CONFLICT":
					conflict++
					if f := r.r.Field(); f != "email" {
						t.Errorf("round %d: CONFLICT on field %q, want email", round, f)
					}
				default:
					t.Fatalf("round %d: createUser %s: %s", round, emails[i], r)
				}
			}
			if ok != 1 || conflict != 1 {
				t.Fatalf("round %d: %d created, %d conflicts; want 1 and 1: %v", round, ok, conflict, res)
			}
		}

		msgs := e.Deliver()
		for round := range rounds {
			addr := fmt.Sprintf("dora.%d@example.com", round)
			n := 0
			for _, m := range msgs {
				if strings.EqualFold(m.To, addr) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d invitation emails to %s, want 1", n, addr)
			}
			var list struct {
				Users struct{ TotalCount int }
			}
			e.MustPost(ann, `query($s: String!) { users(filter: {search: $s}) { totalCount } }`, map[string]any{"s": addr}, &list)
			if list.Users.TotalCount != 1 {
				t.Fatalf("%d users with address %s, want 1", list.Users.TotalCount, addr)
			}
		}
	})
}

// TestRaceParallelVerifyTwoFactor: one user logs in twice and sends the
// same correct code on both waiting sessions at once: the code counts
// once, so at most one session is signed in. Run both for a user with 2FA
// set up and for one enrolling.
func TestRaceParallelVerifyTwoFactor(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ann, _ := e.CreateOrganization("Acme", "ann@example.com")
		e.NewUser(ann, "tom@example.com", "Tom", "VIEWER") // enrolled
		e.Invite(ann, "eve@example.com", "Eve", "VIEWER")
		e.Accept("eve@example.com") // not enrolled yet

		for round, email := range []string{"eve@example.com", "tom@example.com", "tom@example.com"} {
			first := e.StartLogin(email, graphtest.Password)
			second := e.StartLogin(email, graphtest.Password)
			if round == 0 && (first.Step != "TWO_FACTOR_ENROLLMENT_REQUIRED" || second.Step != "TWO_FACTOR_ENROLLMENT_REQUIRED") {
				t.Fatalf("%s: steps %s, %s", email, first.Step, second.Step)
			}
			code := e.Code(email) // for the enrolment, the latest secret: the one stored
			waiting := []string{first.Token, second.Token}
			res := parallel(2, func(i int) (*graphtest.Response, error) {
				return e.TryPost(waiting[i], `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step token } }`,
					map[string]any{"c": code})
			})
			signedIn := 0
			for i, r := range res {
				switch r.code() {
				case "":
					var out struct{ VerifyTwoFactor struct{ Step string } }
					if err := json.Unmarshal(r.r.Data, &out); err != nil || out.VerifyTwoFactor.Step != "SIGNED_IN" {
						t.Fatalf("%s round %d session %d: %s", email, round, i, r)
					}
					signedIn++
				case "BAD_USER_INPUT":
					if f := r.r.Field(); f != "code" {
						t.Fatalf("%s round %d session %d: refused on field %q", email, round, i, f)
					}
				default:
					t.Fatalf("%s round %d session %d: %s", email, round, i, r)
				}
			}
			if signedIn > 1 {
				t.Fatalf("%s round %d: one code signed in %d sessions", email, round, signedIn)
			}
			if signedIn == 0 {
				t.Fatalf("%s round %d: a valid, unused code signed in no session: %v", email, round, res)
			}
		}
	})
}
