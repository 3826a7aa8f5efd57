package graph_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/portal"
)

// pageQuery is the user management screen's page of users.
const pageQuery = `query($first: Int) { users(first: $first) {
  pageInfo { hasNextPage endCursor }
  nodes { id name email role status lastActiveAt invitedBy { name } invitationDeliveryFailed
    viewerCan { changeRole resendInvitation sendPasswordReset resetTwoFactor remove } assignableRoles } } }`

// pageEnv is an organisation of 60 users invited by its Super Admin (one
// in five still INVITED) on backend, the admin's token, and a request for
// a page of 50 through the handler (no network).
func pageEnv(tb testing.TB, backend string) (http.Handler, func() *http.Request) {
	e := graphtest.New(tb, backend)
	tok, adminID := secOrg(tb, e, "ann@example.com")
	admin, err := e.DB.UserByID(tb.Context(), adminID)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range 60 {
		u := &portal.User{OrgID: admin.OrgID, Email: fmt.Sprintf("u%02d@example.com", i), Name: fmt.Sprintf("User %02d", i),
			Role: "VIEWER", InvitedByID: &adminID}
		if i%5 == 0 {
			u.Status = portal.StatusInvited
		}
		e.SeedUser(u)
	}
	body := secJSON(pageQuery, map[string]any{"first": 50})
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	h := e.Server.Config.Handler
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req())
	if w.Code != 200 || bytes.Contains(w.Body.Bytes(), []byte(`"errors"`)) || !bytes.Contains(w.Body.Bytes(), []byte(`"invitedBy":{"name"`)) {
		tb.Fatalf("page: %d %s", w.Code, w.Body.Bytes())
	}
	return h, req
}

// BenchmarkUsersPage serves the page of 50 users in process, for profiles:
// go test -run '^$' -bench UsersPage -cpuprofile cpu.out ./graph/
func BenchmarkUsersPage(b *testing.B) {
	for _, backend := range graphtest.Backends {
		b.Run(backend, func(b *testing.B) {
			h, req := pageEnv(b, backend)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req())
			}
		})
	}
}

// BenchmarkMe serves { me { ... } } in process, for profiles.
func BenchmarkMe(b *testing.B) {
	for _, backend := range graphtest.Backends {
		b.Run(backend, func(b *testing.B) {
			e := graphtest.New(b, backend)
			tok, _ := secOrg(b, e, "ann@example.com")
			body := secJSON(`{ me { id name email role status twoFactorEnabled lastActiveAt createdAt } }`, nil)
			h := e.Server.Config.Handler
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+tok)
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
