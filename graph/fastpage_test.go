package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// sameErrors reports whether two answers with errors are the same but for
// the order of the errors (root fields run concurrently).
func sameErrors(a, b []byte) bool {
	type answer struct {
		Errors []json.RawMessage `json:"errors"`
		Data   json.RawMessage   `json:"data"`
	}
	var x, y answer
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil || len(x.Errors) == 0 || !bytes.Equal(x.Data, y.Data) {
		return false
	}
	key := func(e []json.RawMessage) string {
		s := make([]string, len(e))
		for i := range e {
			s[i] = string(e[i])
		}
		slices.Sort(s)
		return strings.Join(s, "\n")
	}
	return key(x.Errors) == key(y.Errors)
}

// TestPageWriterMatchesGqlgen: the users root field answers byte for byte
// as gqlgen's generic resolution does, for every kind of selection (aliases,
// fragments, @skip/@include, __typename, edges, totalCount, inviters, the
// viewer's actions) and argument, on both backends; selections it leaves
// to gqlgen and errors answer the same too.
func TestPageWriterMatchesGqlgen(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ctx := context.Background()
		adminTok, adminID := secOrg(t, e, "ann@example.com")
		admin, err := e.DB.UserByID(ctx, adminID)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{"Zoë \"Quote\" O'Brien", "tab\there", "<b>&amp;</b>", "back\\slash", "Émile", "plain name"}
		roles := []access.Role{access.Admin, access.Creator, access.Viewer, access.EcommerceViewer}
		var viewerEmail string
		for i := range 24 {
			at := e.Clock.Now().Add(-time.Duration(i) * time.Hour)
			u := &portal.User{OrgID: admin.OrgID, Email: fmt.Sprintf("u%02d@example.com", i), Name: names[i%len(names)] + fmt.Sprint(i),
				Role: roles[i%len(roles)], InvitedByID: &adminID, CreatedAt: e.Clock.Now().Add(time.Duration(i) * time.Second)}
			switch i % 4 {
			case 0:
				u.Status = portal.StatusInvited
				u.InvitationSentAt = &at
			case 1:
				u.LastActiveAt = &at
				u.TOTPSecret, u.TwoFactorEnabled = []byte("sealed"), true
			case 2:
				u.InvitedByID = nil
			}
			e.SeedUser(u)
			if i == 2 {
				viewerEmail = u.Email
			}
		}
		viewerTok := e.SignIn(viewerEmail, graphtest.Password)
		generic := graph.NewHandler(e.Service, graph.Options{Dev: true, GenericPages: true})
		fast := graph.NewHandler(e.Service, graph.Options{Dev: true})
		ask := func(h http.Handler, tok, query string, vars map[string]any) []byte {
			r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(secJSON(query, vars)))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Body.Bytes()
		}
		// The end cursor of a first page of 5, for after.
		var first struct {
			Users struct{ PageInfo struct{ EndCursor string } }
		}
		e.MustPost(adminTok, `{ users(first: 5) { pageInfo { endCursor } } }`, nil, &first)
		const fields = `id name email role status twoFactorEnabled lastActiveAt createdAt invitationSentAt invitationDeliveryFailed
			viewerCan { changeRole resendInvitation sendPasswordReset resetTwoFactor remove } assignableRoles`
		cases := []struct {
			name, query string
			vars        map[string]any
		}{
			{"nodes", `{ users { nodes { ` + fields + ` invitedBy { name } } } }`, nil},
			{"edges, fragments, aliases, typenames", `query { users(first: 7) { __typename t: totalCount edges { __typename c: cursor node { ...F me: email } }
				info: pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor } } }
				fragment F on User { __typename ident: id ... on User { name role } viewerCan { __typename remove can: changeRole } }`, nil},
			{"skip and include", `query($y: Boolean!, $n: Boolean!) { users { nodes { id @include(if: $y) name @skip(if: $y) email @include(if: $n)
				invitedBy @include(if: $y) { name } assignableRoles @skip(if: $n) } } }`, map[string]any{"y": true, "n": false}},
			{"inviter's fields", `{ users(first: 100) { nodes { invitedBy { __typename id name email role status lastActiveAt createdAt
				twoFactorEnabled invitationSentAt viewerCan { changeRole remove } assignableRoles } } } }`, nil},
			{"arguments", `query($f: Int, $a: String, $o: UserOrder, $flt: UserFilter) { users(first: $f, after: $a, orderBy: $o, filter: $flt) {
				totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id name lastActiveAt } } }`,
				map[string]any{"f": 3, "a": first.Users.PageInfo.EndCursor}},
			{"ordered and filtered", `{ users(first: 4, orderBy: {field: LAST_ACTIVE_AT, direction: DESC}, filter: {roles: [VIEWER, ADMIN], status: ACTIVE}) {
				totalCount edges { cursor node { id role } } } }`, nil},
			{"search", `{ users(filter: {search: "quote"}) { totalCount nodes { name } } }`, nil},
			{"empty page", `{ users(filter: {search: "nobody at all"}) { totalCount pageInfo { startCursor endCursor hasNextPage } nodes { id } edges { cursor } } }`, nil},
			{"left to gqlgen: inviter's inviter", `{ users { nodes { id invitedBy { name invitedBy { name } } } } }`, nil},
			{"left to gqlgen: inviter's delivery", `{ users { nodes { invitedBy { invitationDeliveryFailed } } } }`, nil},
			{"me", `{ me { __typename ` + fields + ` invitedBy { name } } }`, nil},
			{"me, aliased, with fragments", `{ who: me { ...M } } fragment M on User { i: id n: name viewerCan { remove } }`, nil},
			{"left to gqlgen: me's inviter's inviter", `{ me { invitedBy { invitedBy { id } } } }`, nil},
			{"two root fields", `{ a: users(first: 2) { nodes { id } } b: users(first: 3) { totalCount } me { name } }`, nil},
			{"error: page size", `{ users(first: 1000) { nodes { id } } }`, nil},
			{"error: cursor", `{ users(after: "nonsense") { nodes { id } } }`, nil},
			{"error: cursor of another order", `query($a: String) { users(after: $a, orderBy: {field: EMAIL, direction: ASC}) { nodes { id } } }`,
				map[string]any{"a": first.Users.PageInfo.EndCursor}},
		}
		for _, c := range cases {
			for _, who := range []struct{ name, tok string }{{"admin", adminTok}, {"viewer", viewerTok}, {"nobody", ""}} {
				want := ask(generic, who.tok, c.query, c.vars)
				got := ask(fast, who.tok, c.query, c.vars)
				if !bytes.Equal(got, want) && !sameErrors(got, want) {
					t.Errorf("%s as %s:\n got: %s\nwant: %s", c.name, who.name, got, want)
				}
			}
		}
		// The cases above cover the fields this test knows; it must cover
		// every answer kind: data with inviters and without, and errors.
		if b := ask(fast, adminTok, cases[0].query, nil); !bytes.Contains(b, []byte(`"invitedBy":{"name":"Super ann@example.com"}`)) ||
			!bytes.Contains(b, []byte(`"invitedBy":null`)) || !bytes.Contains(b, []byte(`\"Quote\"`)) {
			t.Fatalf("the page lacks the cases it should cover: %s", b)
		}
	})
}
