package graph_test

import (
	"bytes"
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

// rawAnswer is an HTTP answer of the GraphQL endpoint.
type rawAnswer struct {
	status      int
	contentType string
	header      http.Header
	body        string
	errors      []graphtest.Error
	data        json.RawMessage
}

func sendRaw(t *testing.T, e *graphtest.Env, method, accept string, body []byte, query url.Values) rawAnswer {
	t.Helper()
	u := e.Server.URL
	if query != nil {
		u += "?" + query.Encode()
	}
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := rawAnswer{status: res.StatusCode, contentType: res.Header.Get("Content-Type"), header: res.Header, body: string(b)}
	var out struct {
		Data   json.RawMessage
		Errors []graphtest.Error
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%d %q is not JSON: %v", res.StatusCode, b, err)
	}
	a.data, a.errors = out.Data, out.Errors
	for _, er := range a.errors {
		if c, _ := er.Extensions["code"].(string); !secCodes[c] {
			t.Errorf("error %q has code %q", er.Message, c)
		}
	}
	return a
}

func (a rawAnswer) want(t *testing.T, status int, media string) {
	t.Helper()
	if a.status != status || !strings.HasPrefix(a.contentType, media) {
		t.Fatalf("answer %d %s, want %d %s: %.300s", a.status, a.contentType, status, media, a.body)
	}
}

const (
	gqlResponse = "application/graphql-response+json"
	plainJSON   = "application/json"
)

// TestGraphQLOverHTTPStatusCodes follows the GraphQL-over-HTTP spec: the
// media type of the answer is negotiated from Accept; with
// application/graphql-response+json a request that fails to parse or
// validate is 400, with application/json it is 200; a body over the cap
// is 413; a GET mutation is 405; a body that is not one JSON request is
// 400 with a fixed message that repeats nothing of it.
func TestGraphQLOverHTTPStatusCodes(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	ok := secJSON(`{ roles { role } }`, nil)
	for _, c := range []struct {
		accept, media string
	}{
		{"", plainJSON},
		{"application/json", plainJSON},
		{"*/*", plainJSON},
		{"text/html", plainJSON},
		{"application/graphql-response+json", gqlResponse},
		{"application/graphql-response+json, application/json;q=0.9", gqlResponse},
		{"application/json, application/graphql-response+json;q=0.5", plainJSON},
		{"application/graphql-response+json;q=0", plainJSON},
	} {
		t.Run(c.accept, func(t *testing.T) {
			// Executed: 200 either way (UNAUTHENTICATED is a field error).
			sendRaw(t, e, http.MethodPost, c.accept, ok, nil).want(t, http.StatusOK, c.media)
			// Request errors: parse, validation, variables, limits.
			status := map[string]int{gqlResponse: http.StatusBadRequest, plainJSON: http.StatusOK}[c.media]
			for _, body := range [][]byte{
				secJSON(`{ me {`, nil),
				secJSON(`{ nope }`, nil),
				secJSON(`query($n: Int!) { users(first: $n) { totalCount } }`, nil),
				secJSON(`query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": "many"}),
				secJSON(strings.Repeat("{", 2), nil),
				secJSON(`{ a: me { id } a: roles { role } }`, nil),
			} {
				a := sendRaw(t, e, http.MethodPost, c.accept, body, nil)
				a.want(t, status, c.media)
				if len(a.errors) == 0 || (len(a.data) > 0 && string(a.data) != "null") {
					t.Fatalf("%s: %s", body, a.body)
				}
			}
		})
	}

	// Over the body cap: 413, nothing read or run.
	big, _ := json.Marshal(map[string]any{"query": `{ roles { role } }`, "pad": strings.Repeat("x", graph.MaxBodyBytes)})
	for _, accept := range []string{"", gqlResponse} {
		a := sendRaw(t, e, http.MethodPost, accept, big, nil)
		if a.status != http.StatusRequestEntityTooLarge || len(a.errors) != 1 || a.errors[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Fatalf("oversized body: %d %s", a.status, a.body)
		}
	}

	// GET runs queries only.
	sendRaw(t, e, http.MethodGet, "", nil, url.Values{"query": {`{ roles { role } }`}}).want(t, http.StatusOK, plainJSON)
	a := sendRaw(t, e, http.MethodGet, "", nil, url.Values{"query": {`mutation { logout }`}})
	a.want(t, http.StatusMethodNotAllowed, plainJSON)
	if a.header.Get("Allow") != "POST" {
		t.Fatalf("405 without Allow: POST: %v", a.header)
	}
	sendRaw(t, e, http.MethodGet, "", nil, url.Values{"query": {`{ roles { role } }`}, "variables": {`{"a": `}}).want(t, http.StatusBadRequest, plainJSON)

	// Bodies that are not one JSON request object: a fixed message and a
	// code, never the body (which may hold a password) or Go type names.
	const secret = "hunter2-correct-horse"
	login := fmt.Sprintf(`mutation { login(input: {email: \"ann@example.com\", password: \"%s\"}) { token } }`, secret)
	for _, body := range []string{
		`{"query": "` + login + `"`,
		`{"query": "` + login + `"}}`,
		`{"query": "` + login + `"} {"query": "x"}`,
		`{"query": ["` + login + `"]}`,
		`{"query": "` + login + `", "variables": ["` + secret + `"]}`,
		`{"query": "` + login + `", "variables": "` + secret + `"}`,
		`"` + secret + `"`,
		`[{"query": "` + login + `"}, {"query": "{ me { id } }"}]`,
		` [{"query": "` + login + `"}]`,
		`[]`,
		`{"query": "` + login + `", "variables": {"p": "` + secret + `\x"}}`,
		``,
	} {
		for _, accept := range []string{"", gqlResponse} {
			a := sendRaw(t, e, http.MethodPost, accept, []byte(body), nil)
			if a.status != http.StatusBadRequest || len(a.errors) != 1 || a.errors[0].Extensions["code"] != "BAD_USER_INPUT" {
				t.Fatalf("%q: %d %s", body, a.status, a.body)
			}
			for _, leak := range []string{secret, "map[", "interface", "[]", "json:", "string", "ann@example.com"} {
				if strings.Contains(a.errors[0].Message, leak) {
					t.Fatalf("%q: message %q repeats %q", body, a.errors[0].Message, leak)
				}
			}
		}
	}
	if a := sendRaw(t, e, http.MethodPost, "", []byte(`[{"query": "{ me { id } }"}]`), nil); !strings.Contains(a.errors[0].Message, "batch") {
		t.Fatalf("a batch is not told why: %s", a.body)
	}
}

// TestErrorsPerAnswerAreCapped: an answer lists at most graph.MaxErrors
// errors and one more that says how many were left out.
func TestErrorsPerAnswerAreCapped(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	// Each repeat of an input field is an error.
	var args []string
	for i := 0; i <= 3*graph.MaxErrors; i++ {
		args = append(args, `search: "a"`)
	}
	query := func(args []string) []byte {
		return secJSON(`{ users(filter: {`+strings.Join(args, ", ")+`}) { totalCount } }`, nil)
	}
	a := sendRaw(t, e, http.MethodPost, "", query(args), nil)
	if len(a.errors) != graph.MaxErrors+1 {
		t.Fatalf("%d errors: %s", len(a.errors), a.body)
	}
	if last := a.errors[graph.MaxErrors]; last.Message != fmt.Sprintf("%d more errors are not shown", 2*graph.MaxErrors) || last.Extensions["code"] != "BAD_USER_INPUT" {
		t.Fatalf("summary error %+v", last)
	}
	// Exactly one more than the cap is shown as it is.
	args = args[:graph.MaxErrors+2]
	if a := sendRaw(t, e, http.MethodPost, "", query(args), nil); len(a.errors) != graph.MaxErrors+1 || strings.Contains(a.body, "not shown") {
		t.Fatalf("%d errors: %s", len(a.errors), a.body)
	}
}

// A browser's Basic credentials (a staging site behind basic auth) do not
// hide the session cookie; a Bearer token still wins over the cookie.
func TestSessionCookieBesideBasicAuth(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		tok, id := secOrg(t, e, "ann@example.com")
		for _, h := range []string{"Basic dXNlcjpwYXNz", "Digest username=\"u\"", "Negotiate abc", "Basic"} {
			var me struct{ Me struct{ ID string } }
			secOK(t, secRequest(t, e, h, tok, `{ me { id } }`, nil), &me)
			if me.Me.ID != id {
				t.Fatalf("%s with the cookie: me = %q", h, me.Me.ID)
			}
		}
		secWant(t, secRequest(t, e, "Bearer "+portalTokenThatDoesNotExist, tok, `{ me { id } }`, nil), "UNAUTHENTICATED")
	})
}

const portalTokenThatDoesNotExist = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// after: "" is no cursor: the first page, for users and the audit log.
func TestEmptyAfterIsFirstPage(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		tok, _ := secOrg(t, e, "ann@example.com")
		e.Invite(tok, "bob@example.com", "Bob", "VIEWER")
		for _, q := range []string{
			`query($a: String) { users(first: 1, after: $a) { totalCount nodes { id } pageInfo { hasNextPage } } }`,
			`query($a: String) { auditLog(first: 1, after: $a) { nodes { id } pageInfo { hasNextPage } } }`,
		} {
			var none, empty json.RawMessage
			r := secPost(t, e, tok, q, nil)
			secOK(t, r, &none)
			r = secPost(t, e, tok, q, map[string]any{"a": ""})
			secOK(t, r, &empty)
			if string(none) != string(empty) || !strings.Contains(string(empty), `"id"`) {
				t.Fatalf("after \"\" = %s, no after = %s", empty, none)
			}
		}
	})
}
