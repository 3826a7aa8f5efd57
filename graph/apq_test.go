package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/graph/graphtest"
)

// Automatic persisted queries: an unknown hash asks for the query (the
// message and extensions.code Apollo clients look for), a hash sent once with its query then
// works alone, and a hash that doesn't match its query is refused.
func TestAutomaticPersistedQueries(t *testing.T) {
	e := graphtest.New(t, graphtest.SQLiteMemory)
	token, id := e.CreateOrganization("Acme", "ann@example.com")
	const query = `{ me { id } }`
	sum := sha256.Sum256([]byte(query))
	hash := hex.EncodeToString(sum[:])
	send := func(body map[string]any) *graphtest.Response {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		return e.Send(req)
	}
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	r := send(map[string]any{"extensions": ext})
	if len(r.Errors) != 1 || r.Errors[0].Message != "PersistedQueryNotFound" || r.Code() != "PERSISTED_QUERY_NOT_FOUND" || r.Status != http.StatusOK {
		t.Fatalf("unknown hash: %d %+v", r.Status, r.Errors)
	}
	// 200 also for clients that accept application/graphql-response+json
	// (as Apollo Server answers; older Apollo clients give up APQ after a
	// 400), and by GET, which Apollo uses for hashed queries.
	b, _ := json.Marshal(map[string]any{"extensions": ext})
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/json;q=0.9")
	if r := e.Send(req); r.Status != http.StatusOK || r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("unknown hash, graphql-response+json: %d %+v", r.Status, r.Errors)
	}
	extJSON, _ := json.Marshal(ext)
	req, _ = http.NewRequest(http.MethodGet, e.Server.URL+"?"+url.Values{"extensions": {string(extJSON)}}.Encode(), nil)
	if r := e.Send(req); r.Status != http.StatusOK || r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("unknown hash by GET: %d %+v", r.Status, r.Errors)
	}
	var out struct{ Me struct{ ID string } }
	send(map[string]any{"query": query, "extensions": ext}).Decode(t, &out)
	if out.Me.ID != id {
		t.Fatalf("query with hash: %+v", out)
	}
	out.Me.ID = ""
	send(map[string]any{"extensions": ext}).Decode(t, &out)
	if out.Me.ID != id {
		t.Fatalf("hash alone: %+v", out)
	}
	bad := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	if r := send(map[string]any{"query": `{ roles { role } }`, "extensions": bad}); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("mismatched hash: %+v", r.Errors)
	}

	// Only valid, small queries from signed-in sessions are stored: text
	// that doesn't parse, a query sent without a session, and an oversized
	// one are all still unknown afterwards.
	stored := func(query, bearer string) bool {
		sum := sha256.Sum256([]byte(query))
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
		b, _ := json.Marshal(map[string]any{"query": query, "extensions": ext})
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		e.Send(req)
		r := send(map[string]any{"extensions": ext})
		return len(r.Errors) == 0 || r.Errors[0].Message != "PersistedQueryNotFound"
	}
	if stored(strings.Repeat("garbage ", 100), token) {
		t.Error("text that does not parse was stored")
	}
	if stored(`{ roles { name } }`, "") {
		t.Error("a query sent without a session was stored")
	}
	if stored(`{ roles { role } }`+strings.Repeat(" ", graph.MaxPersistedQueryBytes), token) {
		t.Error("an oversized query was stored")
	}
	if !stored(`{ roles { rank } }`, token) {
		t.Error("a valid query from a signed-in session was not stored")
	}
}
