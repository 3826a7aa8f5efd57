package graph_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/graph/graphtest"
)

// secRaw sends a request with any method, content type and body, with
// the bearer token when not "", and checks the answer.
func secRaw(t testing.TB, e *graphtest.Env, method, rawQuery, contentType string, body io.Reader, token string) *graphtest.Response {
	t.Helper()
	u := e.Server.URL
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r := e.Send(req)
	secCheck(t, r)
	return r
}

func secGet(t testing.TB, e *graphtest.Env, token, query string, vars string) *graphtest.Response {
	t.Helper()
	v := url.Values{"query": {query}}
	if vars != "" {
		v.Set("variables", vars)
	}
	return secRaw(t, e, http.MethodGet, v.Encode(), "", nil, token)
}

func secJSON(query string, vars map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return b
}

// secRefused asserts an HTTP-level refusal: a 4xx status, errors only,
// each with a contract code.
func secRefused(t testing.TB, r *graphtest.Response, status int) {
	t.Helper()
	secCheck(t, r)
	if (status != 0 && r.Status != status) || r.Status < 400 || r.Status > 499 || len(r.Errors) == 0 {
		t.Fatalf("want a refusal with status %d, got %d, errors %+v, data %s", status, r.Status, r.Errors, r.Data)
	}
	if len(r.Data) != 0 && string(r.Data) != "null" {
		t.Fatalf("refused request has data %s", r.Data)
	}
}

// TestHTTPTransports: GET serves queries only; POST wants JSON; bodies
// are capped; a refused request executes nothing.
func TestHTTPTransports(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	const ann = "ann@example.com"
	tok, _ := secOrg(t, e, ann)

	var roles struct{ Roles []struct{ Role string } }
	secOK(t, secGet(t, e, tok, `{roles{role}}`, ""), &roles)
	if len(roles.Roles) != 5 {
		t.Fatalf("GET roles = %+v", roles)
	}
	secOK(t, secGet(t, e, tok, `query($n: Int) { users(first: $n) { totalCount } }`, `{"n": 1}`), nil)
	secWant(t, secGet(t, e, "", `{roles{role}}`, ""), "UNAUTHENTICATED")

	// GET never runs a mutation, nor a request it cannot read.
	secRefused(t, secGet(t, e, tok, `mutation { logout }`, ""), 0)
	v := url.Values{"query": {`query Q { roles { role } } mutation M { logout }`}, "operationName": {"M"}}
	secRefused(t, secRaw(t, e, http.MethodGet, v.Encode(), "", nil, tok), 0)
	secAlive(t, e, tok, ann)
	secRefused(t, secGet(t, e, tok, `query($n: Int) { users(first: $n) { totalCount } }`, `{"n": `), 0)
	secRefused(t, secRaw(t, e, http.MethodGet, "query=%zz", "", nil, tok), 0)

	// POST: JSON only. Form, text and multipart bodies are refused before
	// anything runs: no logout, no login.
	logout := secJSON(`mutation { logout }`, nil)
	login := secJSON(`mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }`,
		map[string]any{"e": ann, "p": graphtest.Password})
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "", "application/jsonp", "application/json-seq", "application/json;;"} {
		secRefused(t, secRaw(t, e, http.MethodPost, "", ct, bytes.NewReader(logout), tok), http.StatusUnsupportedMediaType)
		r := secRaw(t, e, http.MethodPost, "", ct, bytes.NewReader(login), "")
		secRefused(t, r, http.StatusUnsupportedMediaType)
		if secCookie(r) != nil {
			t.Fatalf("%q login set a cookie", ct)
		}
	}
	form := url.Values{"query": {`mutation { logout }`}}.Encode()
	secRefused(t, secRaw(t, e, http.MethodPost, "", "application/x-www-form-urlencoded", strings.NewReader(form), tok), http.StatusUnsupportedMediaType)
	secAlive(t, e, tok, ann)
	secOK(t, secRaw(t, e, http.MethodPost, "", "application/json; charset=utf-8", bytes.NewReader(secJSON(`{ roles { role } }`, nil)), tok), nil)

	// Bodies: just under the cap is fine, over it is refused unread.
	pad := func(n int) []byte { // a JSON body of about n bytes; the padding is ignored
		b, _ := json.Marshal(map[string]any{"query": `mutation { logout }`, "pad": strings.Repeat("x", n)})
		return b
	}
	big := pad(graph.MaxBodyBytes + 1)
	r := secRaw(t, e, http.MethodPost, "", "application/json", bytes.NewReader(big), tok)
	secWant(t, r, "BAD_USER_INPUT")
	if r.Status != http.StatusRequestEntityTooLarge && (len(r.Data) != 0 && string(r.Data) != "null") {
		t.Fatalf("oversized body: status %d, data %s", r.Status, r.Data)
	}
	secAlive(t, e, tok, ann)
	var out struct{ Logout bool }
	secOK(t, secRaw(t, e, http.MethodPost, "", "application/json", bytes.NewReader(pad(graph.MaxBodyBytes-100)), tok), &out)
	if !out.Logout {
		t.Fatal("logout = false")
	}
	secDead(t, e, tok)

	// A malformed JSON body.
	secWant(t, secRaw(t, e, http.MethodPost, "", "application/json", strings.NewReader(`{"query": "{ roles { role } }"`), ""), "BAD_USER_INPUT")
}

// secWantMsg asserts BAD_USER_INPUT with a message containing part.
func secWantMsg(t testing.TB, r *graphtest.Response, part string) {
	t.Helper()
	secWant(t, r, "BAD_USER_INPUT")
	if !strings.Contains(r.Errors[0].Message, part) {
		t.Fatalf("error %q does not mention %q", r.Errors[0].Message, part)
	}
}

// secNest wraps inner in n levels of invitedBy.
func secNest(n int, inner string) string {
	for i := 0; i < n; i++ {
		inner = "invitedBy { " + inner + " }"
	}
	return inner
}

// TestHTTPQueryLimits: depth, complexity and root-field limits refuse an
// operation before it runs; introspection works in development; errors
// of the document are BAD_USER_INPUT.
func TestHTTPQueryLimits(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	const ann = "ann@example.com"
	tok, _ := secOrg(t, e, ann)

	// Depth: users(1) nodes(2) invitedBy x k, id (3+k).
	secOK(t, secPost(t, e, tok, `{ users { nodes { `+secNest(graph.MaxDepth-3, "id")+` } } }`, nil), nil)
	secWantMsg(t, secPost(t, e, tok, `{ users { nodes { `+secNest(graph.MaxDepth-2, "id")+` } } }`, nil), "levels deep")
	// Fragments do not hide depth.
	secWantMsg(t, secPost(t, e, tok, `{ users { nodes { ...F } } } fragment F on User { `+secNest(graph.MaxDepth-2, "id")+` }`, nil), "levels deep")

	// Complexity: first: 100 multiplies the cost of each node.
	leaf := "id name email role status createdAt lastActiveAt twoFactorEnabled"
	fan := leaf
	for i := 0; i < 3; i++ {
		fan = "a: invitedBy { " + fan + " } b: invitedBy { " + fan + " }"
	}
	secOK(t, secPost(t, e, tok, `{ users(first: 10) { nodes { `+fan+` } } }`, nil), nil)
	secWantMsg(t, secPost(t, e, tok, `{ users(first: 100) { nodes { `+fan+` } } }`, nil), "complexity")
	secWantMsg(t, secPost(t, e, tok, `query($n: Int) { users(first: $n) { nodes { `+fan+` } } }`, map[string]any{"n": 100}), "complexity")

	// Root fields, aliases included.
	roots := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, " r%d: roles { role }", i)
		}
		return b.String() + " }"
	}
	secOK(t, secPost(t, e, tok, roots(graph.MaxRootFields), nil), nil)
	secWantMsg(t, secPost(t, e, tok, roots(graph.MaxRootFields+1), nil), "top-level fields")
	// The limit holds before anything runs: 21 logouts log nobody out.
	var q strings.Builder
	q.WriteString("mutation {")
	for i := 0; i <= graph.MaxRootFields; i++ {
		fmt.Fprintf(&q, " l%d: logout", i)
	}
	secWantMsg(t, secPost(t, e, tok, q.String()+" }", nil), "top-level fields")
	secAlive(t, e, tok, ann)

	// Introspection (Options.Dev).
	var schema struct {
		Schema struct {
			QueryType struct{ Name string }
			Types     []struct{ Name string }
		} `json:"__schema"`
		Type struct{ Fields []struct{ Name string } } `json:"__type"`
	}
	secOK(t, secPost(t, e, "", `{ __schema { queryType { name } types { name } } __type(name: "User") { fields { name } } }`, nil), &schema)
	if schema.Schema.QueryType.Name != "Query" || len(schema.Schema.Types) == 0 || len(schema.Type.Fields) == 0 {
		t.Fatalf("introspection = %+v", schema)
	}

	// Errors of the document itself.
	for _, c := range []struct {
		query string
		vars  map[string]any
	}{
		{`{ me {`, nil},
		{`{ nope }`, nil},
		{`{ me { password } }`, nil},
		{`query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": "many"}},
		{`query($n: Int!) { users(first: $n) { totalCount } }`, nil},
		{`mutation { changeRole(input: {userId: "x", role: GOD}) { user { id } } }`, nil},
		{``, nil},
		{`query A { me { id } } query B { me { id } }`, nil},
		{"{ me { " + strings.Repeat("id ", graph.MaxTokens) + "} }", nil},
	} {
		r := secPost(t, e, tok, c.query, c.vars)
		secWant(t, r, "BAD_USER_INPUT")
		for _, er := range r.Errors {
			if m := strings.ToLower(er.Message); strings.Contains(m, "sql") || strings.Contains(m, "goroutine") || strings.Contains(m, ".go:") {
				t.Fatalf("error message leaks internals: %q", er.Message)
			}
		}
	}
	// Out-of-range arguments are the service's BAD_USER_INPUT with a field.
	secWantField(t, secPost(t, e, tok, `{ users(first: 101) { totalCount } }`, nil), "BAD_USER_INPUT", "first")
	secWantField(t, secPost(t, e, tok, `{ users(after: "garbage") { totalCount } }`, nil), "BAD_USER_INPUT", "after")

	// Internal failures are INTERNAL and show nothing of the cause.
	if err := e.DB.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*graphtest.Response{
		secPost(t, e, tok, `{ me { id } }`, nil),
		secLogin(t, e, ann, graphtest.Password),
	} {
		secWant(t, r, "INTERNAL")
		for _, er := range r.Errors {
			if m := strings.ToLower(er.Message); strings.Contains(m, "sql") || strings.Contains(m, "closed") || strings.Contains(m, "database") {
				t.Fatalf("INTERNAL error leaks its cause: %q", er.Message)
			}
		}
	}
}

// Control characters (which GraphQL strings may carry) never reach SQL as
// an internal error: a login with one is just a wrong login, an audit
// cursor with one is a bad cursor.
func TestControlCharactersInInput(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		token, _ := secOrg(t, e, "ann@example.com")
		r := e.Login("ann\u0000@example.com", graphtest.Password)
		secWant(t, r, "UNAUTHENTICATED")
		bad := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\x00", 36)))
		r = e.Post(token, `query($a: String) { auditLog(first: 1, after: $a) { nodes { id } } }`, map[string]any{"a": bad})
		secWant(t, r, "BAD_USER_INPUT")
	})
}
