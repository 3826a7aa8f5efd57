package graph_test

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/graph/graphtest"
)

// lockedBuffer is a log sink safe for the handler's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// In production, introspection is a client error (BAD_USER_INPUT
// "introspection is disabled", nothing logged at INFO or above, however
// many aliases ask), and no error suggests a name: not for fields,
// arguments, input fields, enum values or types.
func TestProductionRefusals(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	tok, _ := secOrg(t, e, "ann@example.com")
	var logs lockedBuffer
	prod := httptest.NewServer(graph.NewHandler(e.Service, graph.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))}))
	t.Cleanup(prod.Close)
	p := &graphtest.Env{T: t, Server: prod}

	for _, q := range []string{
		`{ __schema { types { name } } }`,
		`{ a: __schema { queryType { name } } b: __schema { queryType { name } } c: __type(name: "User") { name } }`,
		`{ me { id } ...I } fragment I on Query { __type(name: "Role") { enumValues { name } } }`,
		`query { ... on Query { __schema { directives { name } } } }`,
	} {
		for _, token := range []string{"", tok} {
			r := secPost(t, p, token, q, nil)
			if len(r.Errors) != 1 || r.Code() != "BAD_USER_INPUT" || r.Errors[0].Message != "introspection is disabled" || (len(r.Data) > 0 && string(r.Data) != "null") {
				t.Fatalf("%s: %d %+v %s", q, r.Status, r.Errors, r.Data)
			}
		}
	}
	if s := logs.String(); s != "" {
		t.Fatalf("introspection refusals were logged:\n%s", s)
	}
	// __typename is no introspection: clients add it everywhere.
	secOK(t, secPost(t, p, tok, `{ __typename me { __typename id } }`, nil), nil)

	for _, q := range []string{
		`{ me { nmae } }`,
		`{ mee { id } }`,
		`{ users(frist: 1) { totalCount } }`,
		`{ users(filter: {serach: "a"}) { totalCount } }`,
		`{ users(filter: {role: ADMN}) { totalCount } }`,
		`{ users(orderBy: {field: NAM, direction: ASC}) { totalCount } }`,
		`query($f: UserFiltr) { users(filter: $f) { totalCount } }`,
		`query($r: Role) { users(filter: {role: $r}) { totalCount } }`,
		`mutation { changeRole(input: {userId: "x", role: ADMN}) { user { id } } }`,
		`{ me }`,
	} {
		vars := map[string]any(nil)
		if strings.Contains(q, "$r") {
			vars = map[string]any{"r": "ADMN"}
		}
		for _, env := range []*graphtest.Env{p, e} {
			r := secPost(t, env, tok, q, vars)
			if len(r.Errors) == 0 {
				t.Fatalf("%s: no error", q)
			}
			suggests := strings.Contains(strings.ToLower(r.Errors[0].Message), "did you mean")
			if env == p && suggests {
				t.Errorf("production suggests: %s -> %q", q, r.Errors[0].Message)
			}
			if env == e && !suggests && !strings.Contains(q, "$r") && q != `{ me }` {
				t.Logf("development does not suggest for %s: %q", q, r.Errors[0].Message)
			}
		}
	}
}
