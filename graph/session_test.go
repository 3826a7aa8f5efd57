package graph_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/portal"
)

// secRequest sends one GraphQL POST with any Authorization header and
// session cookie ("" leaves either out).
func secRequest(t testing.TB, e *graphtest.Env, authorization, cookie, query string, vars map[string]any) *graphtest.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "portal_session", Value: cookie})
	}
	r := e.Send(req)
	secCheck(t, r)
	return r
}

// secCookie returns the portal_session cookie a response sets, or nil.
func secCookie(r *graphtest.Response) *http.Cookie {
	for _, c := range r.Cookies {
		if c.Name == "portal_session" {
			return c
		}
	}
	return nil
}

// TestSessionIdleTimeout: a session lives 5 minutes after its last request
// (requests slide it), a waiting one too.
func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		tok, _ := secOrg(t, e, ann)
		for i := 0; i < 3; i++ {
			e.Clock.Advance(5*time.Minute - time.Second)
			secAlive(t, e, tok, ann)
		}
		e.Clock.Advance(5*time.Minute + time.Second)
		secDead(t, e, tok)
		secDead(t, e, tok) // and it stays dead

		// A waiting session times out the same way.
		w := e.StartLogin(ann, graphtest.Password).Token
		e.Clock.Advance(5*time.Minute + time.Second)
		secWant(t, secVerify(t, e, w, secCodeAt(t, e.Secret(ann), secStep(e))), "UNAUTHENTICATED")
	})
}

// TestSessionAbsoluteLifetime: used every 4 minutes, a session still ends
// 12 hours after it was created.
func TestSessionAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		tok, _ := secOrg(t, e, ann)
		created := e.Clock.Now()
		for e.Clock.Now().Sub(created) < 12*time.Hour-4*time.Minute {
			e.Clock.Advance(4 * time.Minute)
			if secMe(t, e, tok) != ann {
				t.Fatalf("session died %v after creation", e.Clock.Now().Sub(created))
			}
		}
		e.Clock.Advance(4 * time.Minute)
		if d := e.Clock.Now().Sub(created); d != 12*time.Hour {
			t.Fatalf("at %v, want 12h", d)
		}
		secDead(t, e, tok)
	})
}

// TestSessionForgedTokens: made-up tokens are UNAUTHENTICATED, never an
// internal error, by header or cookie.
func TestSessionForgedTokens(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		tok, _ := secOrg(t, e, ann)
		last := tok[len(tok)-1]
		changed := tok[:len(tok)-1] + map[bool]string{true: "A", false: "B"}[last != 'A']
		for _, forged := range []string{
			portal.NewToken(), // random, 43 characters
			changed,           // the last character changed
			map[bool]string{true: "x", false: "y"}[tok[0] != 'x'] + tok[1:], // the first
			portal.SessionKey(tok),      // the stored form of the real token
			strings.Repeat("a", 10<<10), // 10 KB
			strings.Repeat("b", 129),    // just too long
			`é"'<>{}%00\`,               // odd characters
			tok + " x",                  // the token and garbage
		} {
			secWant(t, secRequest(t, e, "Bearer "+forged, "", `{ me { id } }`, nil), "UNAUTHENTICATED")
			secWant(t, secRequest(t, e, "", forged, `{ me { id } }`, nil), "UNAUTHENTICATED")
		}
		for _, h := range []string{"Bearer ", "Bearer", "Basic " + tok, tok, "Bearer  "} {
			secWant(t, secRequest(t, e, h, "", `{ me { id } }`, nil), "UNAUTHENTICATED")
		}
		secAlive(t, e, tok, ann)
	})
}

// TestSessionCookie: login and verifyTwoFactor set the session cookie, the
// cookie alone authenticates, logout clears it and ends its session, and
// the Authorization header wins over the cookie.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		other, _ := secOrg(t, e, ann)
		checkCookie := func(r *graphtest.Response, value string) {
			t.Helper()
			c := secCookie(r)
			if c == nil {
				t.Fatalf("no portal_session cookie among %v", r.Cookies)
			}
			if c.Value != value || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int((12*time.Hour).Seconds()) {
				t.Fatalf("cookie %+v, want value %q HttpOnly SameSite=Lax Path=/ Max-Age=12h", c, value)
			}
		}

		login := secLogin(t, e, ann, graphtest.Password)
		var lp struct{ Login struct{ Step, Token string } }
		secOK(t, login, &lp)
		checkCookie(login, lp.Login.Token)

		// Verify with the cookie alone.
		e.Clock.Advance(30 * time.Second)
		verify := secRequest(t, e, "", lp.Login.Token, `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step token } }`,
			map[string]any{"c": secCodeAt(t, e.Secret(ann), secStep(e))})
		var vp struct{ VerifyTwoFactor struct{ Step, Token string } }
		secOK(t, verify, &vp)
		if vp.VerifyTwoFactor.Step != "SIGNED_IN" {
			t.Fatalf("verify = %+v", vp)
		}
		tok := vp.VerifyTwoFactor.Token
		checkCookie(verify, tok)

		var me struct{ Me struct{ Email string } }
		secOK(t, secRequest(t, e, "", tok, `{ me { email } }`, nil), &me)
		if me.Me.Email != ann {
			t.Fatalf("me by cookie = %+v", me)
		}
		// A dead cookie is refused, and cleared.
		r := secRequest(t, e, "", lp.Login.Token, `{ me { email } }`, nil)
		secWant(t, r, "UNAUTHENTICATED")
		if c := secCookie(r); c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Fatalf("a dead cookie is not cleared: %+v", c)
		}

		// The header wins: a dead header with a good cookie is refused, a
		// good header with a dead cookie works.
		secWant(t, secRequest(t, e, "Bearer "+lp.Login.Token, tok, `{ me { email } }`, nil), "UNAUTHENTICATED")
		secWant(t, secRequest(t, e, "Bearer "+portal.NewToken(), tok, `{ me { email } }`, nil), "UNAUTHENTICATED")
		secOK(t, secRequest(t, e, "Bearer "+other, lp.Login.Token, `{ me { email } }`, nil), nil)
		// Logout by header ends the header's session, not the cookie's.
		secOK(t, secRequest(t, e, "Bearer "+other, tok, `mutation { logout }`, nil), nil)
		secDead(t, e, other)
		secAlive(t, e, tok, ann)

		// Logout by cookie clears the cookie and ends its session.
		out := secRequest(t, e, "", tok, `mutation { logout }`, nil)
		var lo struct{ Logout bool }
		secOK(t, out, &lo)
		if c := secCookie(out); !lo.Logout || c == nil || c.MaxAge >= 0 || c.Value != "" || c.Path != "/" {
			t.Fatalf("logout = %v, cookie %+v", lo.Logout, c)
		}
		secWant(t, secRequest(t, e, "", tok, `{ me { email } }`, nil), "UNAUTHENTICATED")
		secDead(t, e, tok)
	})
}

// TestSessionLogoutEndsOnlyThatSession: two sessions of one user; logging
// out of one leaves the other.
func TestSessionLogoutEndsOnlyThatSession(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		a, _ := secOrg(t, e, ann)
		b := e.SignIn(ann, graphtest.Password)
		var out struct{ Logout bool }
		secOK(t, secPost(t, e, a, `mutation { logout }`, nil), &out)
		if !out.Logout {
			t.Fatal("logout = false")
		}
		secDead(t, e, a)
		secWant(t, secPost(t, e, a, `mutation { logout }`, nil), "UNAUTHENTICATED")
		secWant(t, secPost(t, e, "", `mutation { logout }`, nil), "UNAUTHENTICATED")
		secAlive(t, e, b, ann)
	})
}

// TestSessionLastActive: lastActiveAt is set by signing in and then
// written at most once a minute.
func TestSessionLastActive(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const ann = "ann@example.com"
		tok, _ := secOrg(t, e, ann)
		signedIn := e.Clock.Now()
		seen := func(want time.Time) {
			t.Helper()
			var me struct {
				Me struct{ LastActiveAt *time.Time }
			}
			secOK(t, secPost(t, e, tok, `{ me { lastActiveAt } }`, nil), &me)
			if me.Me.LastActiveAt == nil || !me.Me.LastActiveAt.Equal(want) {
				t.Fatalf("me.lastActiveAt = %v, want %v", me.Me.LastActiveAt, want)
			}
		}
		stored := func(want time.Time) {
			t.Helper()
			if got := secUser(t, e, ann).LastActiveAt; got == nil || !got.Equal(want) {
				t.Fatalf("last_active_at = %v, want %v", got, want)
			}
		}
		stored(signedIn)
		seen(signedIn)
		e.Clock.Advance(10 * time.Second)
		seen(signedIn)
		stored(signedIn)
		e.Clock.Advance(61 * time.Second)
		now := e.Clock.Now()
		seen(now) // the request that records the activity already shows it
		stored(now)
		e.Clock.Advance(59 * time.Second)
		secAlive(t, e, tok, ann)
		stored(now)

		// A waiting session is no activity.
		e.Clock.Advance(2 * time.Minute)
		w := e.StartLogin(ann, graphtest.Password).Token
		e.Clock.Advance(2 * time.Minute)
		secWantField(t, secVerify(t, e, w, secWrongCode(t, e, e.Secret(ann))), "BAD_USER_INPUT", "code")
		stored(now)
	})
}

// The Authorization scheme name is case-insensitive (RFC 9110 11.1).
func TestSessionBearerSchemeAnyCase(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	tok, id := secOrg(t, e, "ann@example.com")
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		var me struct{ Me struct{ ID string } }
		secOK(t, secRequest(t, e, scheme+" "+tok, "", `{ me { id } }`, nil), &me)
		if me.Me.ID != id {
			t.Fatalf("%s: me = %q", scheme, me.Me.ID)
		}
	}
	secWant(t, secRequest(t, e, "Basic "+tok, "", `{ me { id } }`, nil), "UNAUTHENTICATED")
}
