package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	bt "github.com/clientportal/portal/internal/browsertest"
	"github.com/clientportal/portal/internal/console"
	"github.com/clientportal/portal/internal/portal"
)

// TestBrowserFacingHeaders: every page and answer the server gives a
// browser forbids MIME sniffing, referrers and framing, and has a strict
// Content-Security-Policy (no inline script anywhere, no other origin).
func TestBrowserFacingHeaders(t *testing.T) {
	base, _, _ := startServer(t, devEnv(t))
	for _, path := range []string{"/", "/accept-invitation", "/reset-password", "/assets/app.js", "/assets/vendor/preact-htm.js",
		"/graphiql", "/graphiql/assets/graphiql.min.js", "/graphql?query=%7B__typename%7D", "/healthz"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		if res.StatusCode != http.StatusOK || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: %d, nosniff %q, referrer %q, CSP %q", path, res.StatusCode, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"), csp)
		}
		if script := regexp.MustCompile(`script-src ([^;]*)`).FindStringSubmatch(csp); script != nil &&
			regexp.MustCompile(`https?:|\*`).MatchString(script[1]) {
			t.Errorf("GET %s: script-src %q allows another origin", path, script[1])
		}
	}
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Content-Security-Policy"); got != console.CSP {
		t.Errorf("the console's CSP = %q, want %q", got, console.CSP)
	}
}

// TestConsoleInProduction: the console is served in production too;
// GraphiQL is not.
func TestConsoleInProduction(t *testing.T) {
	env := devEnv(t)
	env["PORTAL_ENV"] = "production"
	env["PORTAL_SMTP_URL"] = "smtp://127.0.0.1:1"
	env["PORTAL_ENCRYPTION_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	env["PORTAL_PUBLIC_URL"] = "https://portal.example.com"
	base, _, _ := startServer(t, env)
	for path, want := range map[string]int{"/": 200, "/accept-invitation": 200, "/reset-password": 200, "/assets/app.js": 200,
		"/graphiql": 404, "/graphiql/assets/graphiql.min.js": 404} {
		if code, _ := get(t, base+path); code != want {
			t.Errorf("production GET %s = %d, want %d", path, code, want)
		}
	}
}

// preflight sends a CORS preflight for a JSON POST from origin.
func preflight(t *testing.T, base, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, base+"/graphql", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestCORSAllowList: only the listed origins get a grant, with
// credentials; with no list, none does.
func TestCORSAllowList(t *testing.T) {
	env := devEnv(t)
	env["PORTAL_CORS_ORIGINS"] = "https://app.example.test, http://localhost:3000"
	base, _, _ := startServer(t, env)
	for _, origin := range []string{"https://app.example.test", "http://localhost:3000"} {
		res := preflight(t, base, origin)
		h := res.Header
		if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight from %s: %d %v", origin, res.StatusCode, h)
		}
	}
	for _, origin := range []string{"https://evil.example", "https://app.example.test.evil.example", "http://localhost:3001", "null"} {
		res := preflight(t, base, origin)
		if g := res.Header.Get("Access-Control-Allow-Origin"); g != "" || res.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight from %s was granted: %q", origin, g)
		}
	}
	// An answer to a listed origin says so (and varies by Origin).
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://app.example.test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.test" || !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Origin") ||
		res.Header.Get("Access-Control-Expose-Headers") != "Retry-After" {
		t.Errorf("POST from a listed origin: %v", res.Header)
	}

	// The default: same origin only.
	base2, _, _ := startServer(t, devEnv(t))
	if g := preflight(t, base2, "http://localhost:3000").Header.Get("Access-Control-Allow-Origin"); g != "" {
		t.Errorf("with no PORTAL_CORS_ORIGINS a preflight was granted to %q", g)
	}
}

// newAdmin creates an organisation with the operator command and accepts
// its invitation over HTTP; it returns the Super Admin's email and password.
func newAdmin(t *testing.T, env map[string]string, base string) (email, password string) {
	t.Helper()
	var out, logs syncBuffer
	if err := run(context.Background(), []string{"create-organization", "--name", "Acme", "--admin-email", "ann@example.com", "--admin-name", "Ann"},
		env, &out, &logs); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`#token=([A-Za-z0-9_-]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no invitation link in %q", out.String())
	}
	password = "correct horse battery staple"
	body, _ := json.Marshal(map[string]any{"query": `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id } } }`,
		"variables": map[string]any{"t": m[1], "p": password}})
	res, err := http.Post(base+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return "ann@example.com", password
}

// TestSessionCookieForCrossSiteFrontends: PORTAL_COOKIE_SAMESITE=none makes
// the session cookie SameSite=None and Secure; the default is Lax.
func TestSessionCookieForCrossSiteFrontends(t *testing.T) {
	for _, c := range []struct {
		sameSite string
		want     http.SameSite
		secure   bool
	}{{"", http.SameSiteLaxMode, false}, {"none", http.SameSiteNoneMode, true}, {"strict", http.SameSiteStrictMode, false}} {
		env := devEnv(t)
		if c.sameSite != "" {
			env["PORTAL_COOKIE_SAMESITE"] = c.sameSite
		}
		base, stop, _ := startServer(t, env)
		email, password := newAdmin(t, env, base)
		body, _ := json.Marshal(map[string]any{"query": `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step } }`,
			"variables": map[string]any{"e": email, "p": password}})
		res, err := http.Post(base+"/graphql", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var cookie *http.Cookie
		for _, k := range res.Cookies() {
			if k.Name == "portal_session" {
				cookie = k
			}
		}
		if cookie == nil || cookie.SameSite != c.want || cookie.Secure != c.secure || !cookie.HttpOnly {
			t.Errorf("PORTAL_COOKIE_SAMESITE=%q: cookie %v, want SameSite %v, Secure %v, HttpOnly", c.sameSite, cookie, c.want, c.secure)
		}
		_ = stop()
	}
}

// frontend serves an empty page: the browser client on another origin.
func frontend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>frontend</title><body>A frontend on another origin.</body>`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fetchFrom runs one GraphQL operation from the page with fetch and the
// browser's cookies (credentials: 'include'), as a frontend would.
func fetchFrom(t *testing.T, p *bt.Page, api, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	js := fmt.Sprintf(`fetch(%q, {method: 'POST', credentials: 'include', headers: {'Content-Type': 'application/json'}, body: %q})
		.then((r) => r.json()).catch((e) => ({ refused: String(e) }))`, api+"/graphql", body)
	return bt.Eval[map[string]any](p, js)
}

// signInFrom signs in from a page with fetch alone: the session lives in
// the API's cookie, which the page's code never sees.
func signInFrom(t *testing.T, p *bt.Page, api, email, password string) (secret string) {
	t.Helper()
	out := fetchFrom(t, p, api, `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step enrollment { secret } } }`,
		map[string]any{"e": email, "p": password})
	var login struct {
		Data struct {
			Login struct {
				Step       string
				Enrollment struct{ Secret string }
			}
		}
	}
	remarshal(t, out, &login)
	if login.Data.Login.Step != "TWO_FACTOR_ENROLLMENT_REQUIRED" {
		t.Fatalf("login from the frontend: %v", out)
	}
	code, err := portal.TOTPCode(login.Data.Login.Enrollment.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out = fetchFrom(t, p, api, `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step } }`, map[string]any{"c": code})
	if fmt.Sprint(out["data"]) != "map[verifyTwoFactor:map[step:SIGNED_IN]]" {
		t.Fatalf("verifyTwoFactor from the frontend: %v", out)
	}
	return login.Data.Login.Enrollment.Secret
}

func remarshal(t *testing.T, from, to any) {
	b, _ := json.Marshal(from)
	if err := json.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
}

const listUsers = `{ users(first: 10) { nodes { email } } }`

// TestCrossOriginFrontend: a page on an allowed origin signs in and lists
// users with credentials, in a real browser; a page on another origin is
// refused by the browser, as the server grants it nothing.
func TestCrossOriginFrontend(t *testing.T) {
	allowed, other := frontend(t), frontend(t)
	env := devEnv(t)
	env["PORTAL_CORS_ORIGINS"] = allowed.URL
	api, _, _ := startServer(t, env)
	email, password := newAdmin(t, env, api)

	p := bt.New(t)
	p.Go(allowed.URL + "/")
	signInFrom(t, p, api, email, password)
	if out := fetchFrom(t, p, api, listUsers, nil); !strings.Contains(fmt.Sprint(out["data"]), email) {
		t.Fatalf("users from the allowed origin: %v", out)
	}

	q := bt.New(t)
	q.Expect("CORS policy")
	q.Expect("Failed to fetch")
	q.Go(other.URL + "/")
	out := fetchFrom(t, q, api, `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step } }`,
		map[string]any{"e": email, "p": password})
	if !strings.Contains(fmt.Sprint(out["refused"]), "Failed to fetch") {
		t.Fatalf("a login from an origin not on the list was not refused: %v", out)
	}
}

// TestCrossSiteFrontend: a frontend on another site (127.0.0.1 against the
// API on localhost). With PORTAL_COOKIE_SAMESITE=none the session cookie
// works in a browser that allows third-party cookies (a default profile); a
// browser that blocks them (a private window, as Safari and Firefox do by
// default) drops it, and the frontend
// uses the login's token as a bearer header instead. Both as the README
// says.
func TestCrossSiteFrontend(t *testing.T) {
	front := frontend(t)
	env := devEnv(t)
	env["PORTAL_CORS_ORIGINS"] = front.URL
	env["PORTAL_COOKIE_SAMESITE"] = "none"
	api, _, _ := startServer(t, env)
	email, password := newAdmin(t, env, api)
	u, _ := url.Parse(api)
	api = "http://localhost:" + u.Port() // another site than the frontend's 127.0.0.1

	p := bt.NewInProfile(t)
	p.Go(front.URL + "/")
	secret := signInFrom(t, p, api, email, password)
	if out := fetchFrom(t, p, api, listUsers, nil); !strings.Contains(fmt.Sprint(out["data"]), email) {
		t.Fatalf("users from a cross-site frontend with third-party cookies allowed: %v", out)
	}

	q := bt.New(t) // third-party cookies blocked
	q.Go(front.URL + "/")
	login := fetchFrom(t, q, api, `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step token enrollment { secret } } }`,
		map[string]any{"e": email, "p": password})
	var lp struct {
		Data struct {
			Login struct {
				Step, Token string
				Enrollment  *struct{ Secret string }
			}
		}
	}
	remarshal(t, login, &lp)
	if lp.Data.Login.Token == "" || lp.Data.Login.Step != "TWO_FACTOR_REQUIRED" {
		t.Fatalf("login: %v", login)
	}
	// Without the cookie the second step does not find the login...
	if out := fetchFrom(t, q, api, listUsers, nil); !strings.Contains(fmt.Sprint(out["errors"]), "UNAUTHENTICATED") {
		t.Fatalf("a blocked third-party cookie still signed the page in: %v", out)
	}
	// ...and with the token as a bearer header it does.
	bearer := func(query string, vars map[string]any, token string) map[string]any {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		return bt.Eval[map[string]any](q, fmt.Sprintf(`fetch(%q, {method: 'POST', headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + %q}, body: %q}).then((r) => r.json())`,
			api+"/graphql", token, body))
	}
	// A code is accepted once: the next step's code (within the allowed skew).
	code, _ := portal.TOTPCode(secret, time.Now().Add(30*time.Second))
	verified := bearer(`mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step token } }`, map[string]any{"c": code}, lp.Data.Login.Token)
	var vp struct {
		Data struct{ VerifyTwoFactor struct{ Step, Token string } }
	}
	remarshal(t, verified, &vp)
	if vp.Data.VerifyTwoFactor.Step != "SIGNED_IN" {
		t.Fatalf("verifyTwoFactor with a bearer token: %v", verified)
	}
	if out := bearer(listUsers, nil, vp.Data.VerifyTwoFactor.Token); !strings.Contains(fmt.Sprint(out["data"]), email) {
		t.Fatalf("users with a bearer token from a cross-site frontend: %v", out)
	}
}

// TestConsoleOnTheRealServer: as a new user would, against `portal serve`
// with nothing configured: the operator's invitation link opens the
// console, which sets the password, signs in, enrols 2FA from the code the
// page shows, and lands on the user-management screen.
func TestConsoleOnTheRealServer(t *testing.T) {
	env := devEnv(t)
	base, _, _ := startServer(t, env)
	var out, logs syncBuffer
	if err := run(context.Background(), []string{"create-organization", "--name", "Acme", "--admin-email", "ann@example.com", "--admin-name", "Ann Example"},
		env, &out, &logs); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`http://localhost:8080(/accept-invitation#token=[A-Za-z0-9_-]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no invitation link in %q", out.String())
	}
	p := bt.New(t)
	p.Go(base + m[1])
	p.See(bt.Heading("Accept your invitation"))
	const password = "correct horse battery staple"
	p.Fill("New password", password)
	p.Fill("Confirm password", password)
	p.Click(bt.Button("Set password"))
	p.See(bt.Status("Your password is set"))
	p.Fill("Password", password) // the email is filled in already
	p.Click(bt.Button("Sign in"))
	p.See(bt.Heading("Set up two-factor authentication"))
	if src := p.Attr("//img[@alt='QR code for your authenticator app']", "src"); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("QR code src %.40q", src)
	}
	code, err := portal.TOTPCode(p.TextOf(bt.Labelled("Secret key")), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.Fill("Authentication code", code)
	p.Click(bt.Button("Confirm and sign in"))
	p.See(bt.Heading("User management"))
	p.See(bt.Row("Users", "ann@example.com"))
	p.See(bt.Button("+ New User"))
}
