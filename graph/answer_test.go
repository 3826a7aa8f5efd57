package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
)

// The usual answer (data only) is written as gqlgen made it, not re-compacted, and
// reads exactly as encoding/json would have written it; a client that asks
// for application/graphql-response+json still gets that.
func TestAnswerWrittenOnce(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	tok, _ := secOrg(t, e, "ann@example.com")
	send := func(accept string, query string) (string, []byte, int) {
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(secJSON(query, nil)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.Header.Get("Content-Type"), b, res.StatusCode
	}
	const q = `{ me { name email role } roles { role rank } }`
	ct, plain, status := send("", q)
	if ct != "application/json; charset=utf-8" || status != 200 {
		t.Fatalf("Content-Type %q, status %d", ct, status)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, plain); err != nil || !bytes.Equal(compact.Bytes(), plain) {
		t.Fatalf("answer is not compact JSON (%v): %s", err, plain)
	}
	if !bytes.HasPrefix(plain, []byte(`{"data":{"me":{"name":`)) || bytes.Contains(plain, []byte(`"errors"`)) {
		t.Fatalf("answer %s", plain)
	}
	for _, accept := range []string{"application/json", "*/*", "text/html, application/json;q=0.9"} {
		if ct, b, _ := send(accept, q); ct != "application/json; charset=utf-8" || !bytes.Equal(b, plain) {
			t.Errorf("Accept %q: %q %s", accept, ct, b)
		}
	}
	if ct, b, _ := send("application/graphql-response+json", q); ct != "application/graphql-response+json; charset=utf-8" || !bytes.Equal(b, plain) {
		t.Errorf("graphql-response+json: %q %s", ct, b)
	}
	// Errors are written by encoding/json, as before.
	ct, b, status := send("", `{ me { nope } }`)
	var r graphtest.Response
	if err := json.Unmarshal(b, &r); err != nil || ct != "application/json; charset=utf-8" || status != http.StatusOK ||
		r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("invalid query: %q %d %s", ct, status, b)
	}
}
