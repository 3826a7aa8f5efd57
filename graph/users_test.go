package graph_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// usNode is a user as the list tests read it.
type usNode struct {
	ID, Name, Email, Role, Status string
	LastActiveAt                  *string
	CreatedAt                     string
	InvitedBy                     *struct{ ID, Name string }
}

type usPage struct {
	Nodes    []usNode
	Edges    []struct{ Cursor string }
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	TotalCount int
}

const usListQuery = `query($first: Int, $after: String, $filter: UserFilter, $order: UserOrder) {
	users(first: $first, after: $after, filter: $filter, orderBy: $order) {
		nodes { id name email role status lastActiveAt createdAt invitedBy { id name } }
		edges { cursor }
		pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
		totalCount } }`

// usList runs the users query; first, after, filter and order may be nil.
func usList(t *testing.T, e *graphtest.Env, token string, first, after, filter, order any) *graphtest.Response {
	t.Helper()
	return e.Post(token, usListQuery, map[string]any{"first": first, "after": after, "filter": filter, "order": order})
}

func usMustList(t *testing.T, e *graphtest.Env, token string, first, after, filter, order any) usPage {
	t.Helper()
	var out struct{ Users usPage }
	usList(t, e, token, first, after, filter, order).Decode(t, &out)
	return out.Users
}

// usWalk reads every page of size n and returns the nodes in order,
// checking the page flags on the way.
func usWalk(t *testing.T, e *graphtest.Env, token string, n int, filter, order any) []usNode {
	t.Helper()
	var all []usNode
	var after any
	for page := 0; ; page++ {
		p := usMustList(t, e, token, n, after, filter, order)
		if len(p.Nodes) > n || len(p.Edges) != len(p.Nodes) {
			t.Fatalf("page %d: %d nodes, %d edges (first %d)", page, len(p.Nodes), len(p.Edges), n)
		}
		if p.PageInfo.HasPreviousPage != (page > 0) {
			t.Errorf("page %d: hasPreviousPage %t", page, p.PageInfo.HasPreviousPage)
		}
		if len(p.Nodes) > 0 && (p.PageInfo.EndCursor == nil || *p.PageInfo.EndCursor != p.Edges[len(p.Edges)-1].Cursor) {
			t.Errorf("page %d: endCursor is not the last edge's cursor", page)
		}
		all = append(all, p.Nodes...)
		if !p.PageInfo.HasNextPage {
			if len(p.Nodes) == 0 && page > 0 {
				t.Errorf("page %d: an empty last page after hasNextPage", page)
			}
			return all
		}
		if len(p.Nodes) != n {
			t.Fatalf("page %d: %d nodes with hasNextPage", page, len(p.Nodes))
		}
		after = *p.PageInfo.EndCursor
		if page > 1000 {
			t.Fatal("the walk does not end")
		}
	}
}

func usIDs(nodes []usNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// usSameSet checks that got holds every id of want exactly once and nothing else.
func usSameSet(t *testing.T, what string, got []usNode, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, n := range got {
		seen[n.ID]++
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s: %s appears %d times", what, id, c)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("%s: %s missing", what, id)
		}
		delete(seen, id)
	}
	for id := range seen {
		t.Errorf("%s: unexpected user %s", what, id)
	}
}

// usRoleOrder is the declared order of the Role enum.
var usRoleOrder = []string{"SUPER_ADMIN", "ADMIN", "CREATOR", "VIEWER", "ECOMMERCE_VIEWER"}

func usTime(t *testing.T, s *string) *time.Time {
	if s == nil {
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		t.Fatalf("bad time %q: %v", *s, err)
	}
	return &v
}

// usCompare is the order the API must return for field/direction: the
// field's value (names case-insensitively, roles in enum order, never
// active first), then the id; DESC reverses both.
func usCompare(t *testing.T, field string, desc bool) func(a, b usNode) int {
	return func(a, b usNode) int {
		var c int
		switch field {
		case "NAME":
			c = strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		case "EMAIL":
			c = strings.Compare(a.Email, b.Email)
		case "ROLE":
			c = cmp.Compare(slices.Index(usRoleOrder, a.Role), slices.Index(usRoleOrder, b.Role))
		case "LAST_ACTIVE_AT":
			ta, tb := usTime(t, a.LastActiveAt), usTime(t, b.LastActiveAt)
			switch {
			case ta == nil && tb == nil:
			case ta == nil:
				c = -1
			case tb == nil:
				c = 1
			default:
				c = ta.Compare(*tb)
			}
		case "CREATED_AT":
			c = usTime(t, &a.CreatedAt).Compare(*usTime(t, &b.CreatedAt))
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	}
}

// usData is an organisation with enough varied users to page through.
type usData struct {
	token, saID, org string
	live             []string          // ids of every live user, the Super Admin included
	removed          []string          // ids of removed users
	inviter          map[string]string // user id -> inviter's name
	roleToken        map[string]string // a signed-in user per role
}

var usNames = []string{"Alex Adams", "alex baker", "ALEXANDRA Cole", "Bob Dylan", "bob dylan", "Carol King",
	"Émile Zola", "snake_case Sam", "100% Sure", "Zed", "dave", "Eve Online", "Frank Ocean"}

var usDomains = []string{"acme.test", "Example.ORG", "mail.test"}

func usSetup(t *testing.T, e *graphtest.Env, n int) *usData {
	t.Helper()
	token, saID := e.CreateOrganization("Acme", "sa@acme.test")
	d := &usData{token: token, saID: saID, org: e.OrgOf(saID), live: []string{saID},
		inviter: map[string]string{}, roleToken: map[string]string{"SUPER_ADMIN": token}}
	ctx := context.Background()
	base := e.Clock.Now().Add(-time.Hour)
	inviterID, inviterName := saID, "Super Acme"
	for i := range n {
		status := portal.StatusActive
		if i%4 == 0 {
			status = portal.StatusInvited
		}
		name := usNames[i%len(usNames)]
		u := &portal.User{OrgID: d.org, Email: fmt.Sprintf("User%02d@%s", i, usDomains[i%len(usDomains)]), Name: name,
			Role: access.Role(usRoleOrder[i%5]), Status: status, CreatedAt: base.Add(time.Duration(i/3) * time.Second),
			InvitedByID: &inviterID}
		id := e.SeedUser(u)
		d.live = append(d.live, id)
		d.inviter[id] = inviterName
		if i%7 == 3 { // several inviters
			inviterID, inviterName = id, name
		}
		if status == portal.StatusActive && i%3 != 0 {
			at := base.Add(time.Duration(i%5) * time.Minute) // ties on purpose
			if _, err := e.DB.Bun().NewUpdate().Table("users").Set("last_active_at = ?", at).Where("id = ?", id).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		id := e.SeedUser(&portal.User{OrgID: d.org, Email: fmt.Sprintf("gone%d@acme.test", i), Name: "Alex Gone", Role: access.Viewer})
		if err := e.DB.RemoveUser(ctx, d.org, id, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		d.removed = append(d.removed, id)
	}
	return d
}

// TestUsersList: paging, ordering, searching and filtering of the users
// query through HTTP.
func TestUsersList(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		d := usSetup(t, e, 64)
		all := usWalk(t, e, d.token, 100, nil, nil)

		t.Run("default page is 50", func(t *testing.T) {
			p := usMustList(t, e, d.token, nil, nil, nil, nil)
			if len(p.Nodes) != 50 || !p.PageInfo.HasNextPage || p.PageInfo.HasPreviousPage || p.TotalCount != len(d.live) {
				t.Errorf("default page: %d nodes, hasNext %t, hasPrevious %t, totalCount %d (want 50, true, false, %d)",
					len(p.Nodes), p.PageInfo.HasNextPage, p.PageInfo.HasPreviousPage, p.TotalCount, len(d.live))
			}
			if p := usMustList(t, e, d.token, 100, nil, nil, nil); len(p.Nodes) != len(d.live) {
				t.Errorf("first 100: %d nodes, want %d", len(p.Nodes), len(d.live))
			}
		})

		t.Run("first out of range", func(t *testing.T) {
			for _, first := range []int{0, -1, 101} {
				r := usList(t, e, d.token, first, nil, nil, nil)
				if r.Code() != "BAD_USER_INPUT" || r.Field() != "first" {
					t.Errorf("first %d: code %q field %q (%+v)", first, r.Code(), r.Field(), r.Errors)
				}
			}
			// A huge first is refused earlier, by the complexity limit.
			if r := usList(t, e, d.token, 1<<30, nil, nil, nil); r.Code() != "BAD_USER_INPUT" {
				t.Errorf("first 2^30: code %q (%+v)", r.Code(), r.Errors)
			}
		})

		t.Run("walking pages gives every live user once", func(t *testing.T) {
			walked := usWalk(t, e, d.token, 7, nil, nil)
			usSameSet(t, "walk", walked, d.live)
			if !slices.Equal(usIDs(walked), usIDs(all)) {
				t.Error("pages of 7 and one page of 100 disagree on the order")
			}
			invited := 0
			for _, n := range walked {
				if n.Status == "INVITED" {
					invited++
				}
			}
			if invited == 0 {
				t.Error("no INVITED user listed")
			}
		})

		t.Run("orderBy every field both directions", func(t *testing.T) {
			for _, field := range []string{"NAME", "EMAIL", "ROLE", "LAST_ACTIVE_AT", "CREATED_AT"} {
				for _, dir := range []string{"ASC", "DESC"} {
					order := map[string]any{"field": field, "direction": dir}
					walked := usWalk(t, e, d.token, 6, nil, order)
					what := field + " " + dir
					usSameSet(t, what, walked, d.live)
					c := usCompare(t, field, dir == "DESC")
					for i := 1; i < len(walked); i++ {
						if c(walked[i-1], walked[i]) >= 0 {
							t.Errorf("%s: out of order at %d: %+v then %+v", what, i, walked[i-1], walked[i])
						}
					}
					again := usWalk(t, e, d.token, 100, nil, order)
					if !slices.Equal(usIDs(walked), usIDs(again)) {
						t.Errorf("%s: not stable between page sizes", what)
					}
				}
			}
		})

		t.Run("a cursor belongs to its order", func(t *testing.T) {
			p := usMustList(t, e, d.token, 5, nil, nil, map[string]any{"field": "NAME", "direction": "ASC"})
			cursor := *p.PageInfo.EndCursor
			for _, order := range []map[string]any{
				{"field": "EMAIL", "direction": "ASC"}, {"field": "NAME", "direction": "DESC"},
				{"field": "CREATED_AT", "direction": "ASC"}, {"field": "LAST_ACTIVE_AT", "direction": "DESC"},
			} {
				r := usList(t, e, d.token, 5, cursor, nil, order)
				if r.Code() != "BAD_USER_INPUT" || r.Field() != "after" {
					t.Errorf("NAME ASC cursor with %v: code %q field %q", order, r.Code(), r.Field())
				}
			}
			// Without orderBy the order is NAME ASC, so the cursor works.
			if r := usList(t, e, d.token, 5, cursor, nil, nil); len(r.Errors) > 0 {
				t.Errorf("NAME ASC cursor with the default order: %+v", r.Errors)
			}
		})

		t.Run("forged cursors are BAD_USER_INPUT", func(t *testing.T) {
			b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
			id := uuid.NewString()
			forged := []string{
				"xyz", "====", "!!!!", // "" is no cursor (TestEmptyAfterIsFirstPage) strings.Repeat("A", 5000),
				b64("garbage"), b64("{not json"), b64("[]"), b64("null"), b64(`"x"`), b64("{}"),
				b64(`{"f":"NAME","v":"a"}`),
				b64(`{"f":"NAME","v":"a","i":"not-a-uuid"}`),
				b64(`{"f":"NAME","v":123,"i":"` + id + `"}`),
				b64(`{"f":"NAME","i":"` + id + `"}`),
				b64(`{"f":"NAME","v":"a\u0000b","i":"` + id + `"}`),
				b64(`{"f":"EMAIL","v":"a","i":"` + id + `"}`),
				b64(`{"f":"BOGUS","v":"a","i":"` + id + `"}`),
				b64(`{"f":"NAME","d":true,"v":"a","i":"` + id + `"}`),
				base64.StdEncoding.EncodeToString([]byte(`{"f":"NAME","v":"a","i":"`+id+`"}`)) + "=",
			}
			for _, c := range forged {
				r := usList(t, e, d.token, 5, c, nil, nil)
				if r.Code() != "BAD_USER_INPUT" {
					t.Errorf("cursor %.60q: code %q (%+v)", c, r.Code(), r.Errors)
				}
			}
			// Cursors of the other orders with values of the wrong type.
			typed := map[string][]string{
				"CREATED_AT":     {`"yesterday"`, `"10000-01-01T00:00:00Z"`, `"0001-01-01T00:00:00+14:00"`, `""`},
				"LAST_ACTIVE_AT": {`"soon"`, `"2026-13-01T00:00:00Z"`},
				"ROLE":           {`"ADMIN"`, `"-1"`, `"99"`, `"1e3"`, `""`},
			}
			for field, values := range typed {
				for _, v := range values {
					c := b64(`{"f":"` + field + `","v":` + v + `,"i":"` + id + `"}`)
					r := usList(t, e, d.token, 5, c, nil, map[string]any{"field": field, "direction": "ASC"})
					if r.Code() != "BAD_USER_INPUT" {
						t.Errorf("%s cursor value %s: code %q (%+v)", field, v, r.Code(), r.Errors)
					}
				}
			}
		})

		t.Run("search is case-insensitive on name and email", func(t *testing.T) {
			for _, s := range []string{"ALEX", "alex", "bob DYLAN", "EXAMPLE.org", "user0", "USER1", "émile", "ÉMILE", "_", "%", "100%", "nobody-matches"} {
				var want []string
				for _, n := range all {
					if strings.Contains(strings.ToLower(n.Name), strings.ToLower(s)) || strings.Contains(n.Email, strings.ToLower(s)) {
						want = append(want, n.ID)
					}
				}
				filter := map[string]any{"search": s}
				got := usWalk(t, e, d.token, 9, filter, nil)
				usSameSet(t, "search "+s, got, want)
				if p := usMustList(t, e, d.token, 1, nil, filter, nil); p.TotalCount != len(want) {
					t.Errorf("search %q: totalCount %d, want %d", s, p.TotalCount, len(want))
				}
			}
			// The wildcard characters are literal: only the names that hold them.
			for s, name := range map[string]string{"_": "snake_case Sam", "%": "100% Sure"} {
				for _, n := range usWalk(t, e, d.token, 100, map[string]any{"search": s}, nil) {
					if n.Name != name {
						t.Errorf("search %q matched %q", s, n.Name)
					}
				}
			}
		})

		t.Run("filter by roles and status", func(t *testing.T) {
			filters := []struct {
				roles  []string
				status string
				search string
			}{
				{roles: []string{"VIEWER", "ECOMMERCE_VIEWER"}},
				{roles: []string{"SUPER_ADMIN"}},
				{status: "INVITED"},
				{status: "ACTIVE"},
				{roles: []string{"ADMIN", "CREATOR"}, status: "INVITED"},
				{roles: []string{"CREATOR"}, status: "ACTIVE", search: "ALEX"},
				{roles: []string{}},
			}
			for _, f := range filters {
				filter := map[string]any{}
				if f.roles != nil {
					filter["roles"] = f.roles
				}
				if f.status != "" {
					filter["status"] = f.status
				}
				if f.search != "" {
					filter["search"] = f.search
				}
				var want []string
				for _, n := range all {
					if (len(f.roles) == 0 || slices.Contains(f.roles, n.Role)) && (f.status == "" || n.Status == f.status) &&
						(f.search == "" || strings.Contains(strings.ToLower(n.Name+" "+n.Email), strings.ToLower(f.search))) {
						want = append(want, n.ID)
					}
				}
				what := fmt.Sprintf("filter %+v", f)
				if len(want) == 0 && len(f.roles) != 0 {
					t.Fatalf("%s: the data set has no match; the test would prove nothing", what)
				}
				usSameSet(t, what, usWalk(t, e, d.token, 4, filter, map[string]any{"field": "ROLE", "direction": "DESC"}), want)
				if p := usMustList(t, e, d.token, 2, nil, filter, nil); p.TotalCount != len(want) {
					t.Errorf("%s: totalCount %d, want %d", what, p.TotalCount, len(want))
				}
			}
			r := usList(t, e, d.token, 5, nil, map[string]any{"roles": []string{"OWNER"}}, nil)
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("filter by unknown role: %q (%+v)", r.Code(), r.Errors)
			}
		})

		t.Run("removed users are never listed nor found", func(t *testing.T) {
			for _, id := range d.removed {
				var out struct{ User *struct{ ID string } }
				e.MustPost(d.token, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": id}, &out)
				if out.User != nil {
					t.Errorf("removed user %s found", id)
				}
			}
			if got := usWalk(t, e, d.token, 100, map[string]any{"search": "gone"}, nil); len(got) != 0 {
				t.Errorf("search for removed users found %+v", got)
			}
		})

		t.Run("invitedBy resolves", func(t *testing.T) {
			for _, n := range all {
				switch {
				case n.ID == d.saID:
					if n.InvitedBy != nil {
						t.Errorf("the operator's Super Admin has invitedBy %+v", n.InvitedBy)
					}
				case n.InvitedBy == nil || n.InvitedBy.Name != d.inviter[n.ID]:
					t.Errorf("%s: invitedBy %+v, want %q", n.Email, n.InvitedBy, d.inviter[n.ID])
				}
			}
		})

		t.Run("every role may list", func(t *testing.T) {
			for _, role := range usRoleOrder[1:] {
				email := "lister-" + strings.ToLower(role) + "@acme.test"
				id := e.SeedUser(&portal.User{OrgID: d.org, Email: email, Name: "Lister " + role, Role: access.Role(role)})
				d.live = append(d.live, id)
				d.roleToken[role] = e.SignIn(email, graphtest.Password)
			}
			for role, token := range d.roleToken {
				walked := usWalk(t, e, token, 50, nil, nil)
				usSameSet(t, role+" lists", walked, d.live)
				p := usMustList(t, e, token, 1, nil, nil, nil)
				if p.TotalCount != len(d.live) {
					t.Errorf("%s: totalCount %d, want %d", role, p.TotalCount, len(d.live))
				}
				var out struct{ User *struct{ ID string } }
				e.MustPost(token, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": d.saID}, &out)
				if out.User == nil || out.User.ID != d.saID {
					t.Errorf("%s: user(id) of the Super Admin = %+v", role, out.User)
				}
			}
		})
	})
}

// TestForgedIDs: ids that are not users of the organisation are null in
// user(id:) and NOT_FOUND in every mutation, never INTERNAL.
func TestForgedIDs(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		token, saID := e.CreateOrganization("Acme", "sa@acme.test")
		org := e.OrgOf(saID)
		gone := e.SeedUser(&portal.User{OrgID: org, Email: "gone@acme.test", Name: "Gone", Role: access.Viewer})
		if err := e.DB.RemoveUser(context.Background(), org, gone, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		ids := []string{"", "xyz", "0", "-1", uuid.NewString(), strings.ToUpper(uuid.NewString()),
			"urn:uuid:" + uuid.NewString(), "{" + uuid.NewString() + "}", "' OR '1'='1", "1; DROP TABLE users; --",
			"a\u0000b", "\xff\xfe", strings.Repeat("9", 10_000), saID + " ", " " + saID, gone}
		for _, id := range ids {
			var out struct{ User *struct{ ID string } }
			r := e.Post(token, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": id})
			r.Decode(t, &out)
			if out.User != nil {
				t.Errorf("user(id: %.40q) = %+v, want null", id, out.User)
			}
			for _, action := range []string{"changeRole", "resendInvitation", "sendPasswordReset", "resetTwoFactor", "removeUser"} {
				before := mxSnapshot(t, e, "")
				r := mxDo(e, token, action, id, "VIEWER")
				mxExpectRefused(t, e, fmt.Sprintf("%s(%.40q)", action, id), r, "NOT_FOUND", "", before, mxSnapshot(t, e, ""))
			}
		}
	})
}

// usSelectCounter counts SELECTs that read the users table.
type usSelectCounter struct{ n atomic.Int64 }

func (h *usSelectCounter) BeforeQuery(ctx context.Context, ev *bun.QueryEvent) context.Context {
	q := strings.ToUpper(strings.TrimSpace(ev.Query))
	if strings.HasPrefix(q, "SELECT") && strings.Contains(q, `FROM "USERS"`) {
		h.n.Add(1)
	}
	return ctx
}

func (h *usSelectCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// TestInvitedByBatched: invitedBy on a page costs the same number of
// queries for 5 users as for 40 (one batch, not one query per user).
func TestInvitedByBatched(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		token, saID := e.CreateOrganization("Acme", "sa@acme.test")
		org := e.OrgOf(saID)
		counter := &usSelectCounter{}
		e.DB.Bun().AddQueryHook(counter)
		inviter, n := saID, 0
		names := map[string]string{saID: "Super Acme"}
		add := func(upTo int) {
			for ; n < upTo; n++ {
				by := inviter
				name := fmt.Sprintf("Batch %02d", n)
				inviter = e.SeedUser(&portal.User{OrgID: org, Email: fmt.Sprintf("b%02d@acme.test", n), Name: name,
					Role: access.Viewer, Status: portal.StatusInvited, InvitedByID: &by})
				names[inviter] = name
			}
		}
		measure := func(users int) int64 {
			var out struct {
				Users struct {
					Nodes []struct {
						Name      string
						InvitedBy *struct{ Name string }
					}
				}
			}
			counter.n.Store(0)
			e.MustPost(token, `{ users(first: 50) { nodes { name invitedBy { name } } } }`, nil, &out)
			got := counter.n.Load()
			if len(out.Users.Nodes) != users {
				t.Fatalf("%d users listed, want %d", len(out.Users.Nodes), users)
			}
			distinct := map[string]bool{}
			for _, u := range out.Users.Nodes {
				if u.Name != "Super Acme" && u.InvitedBy == nil {
					t.Errorf("%s: invitedBy is null", u.Name)
				} else if u.InvitedBy != nil {
					distinct[u.InvitedBy.Name] = true
				}
			}
			if len(distinct) != users-1 {
				t.Fatalf("%d distinct inviters for %d users: the test needs one each", len(distinct), users)
			}
			return got
		}
		add(4)
		small := measure(5)
		add(39)
		large := measure(40)
		if large != small {
			t.Errorf("SELECTs on users: %d for 5 users, %d for 40: invitedBy is not batched", small, large)
		}
		if small > 3 {
			t.Errorf("%d SELECTs on users for one page (session, page, one invitedBy batch expected)", small)
		}
	})
}

// TestCreateUserBadInput: invalid input is BAD_USER_INPUT naming the
// field, a taken email is CONFLICT, and neither changes anything.
func TestCreateUserBadInput(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		token, saID := e.CreateOrganization("Acme", "sa@acme.test")
		org := e.OrgOf(saID)
		create := func(email, name, role string) *graphtest.Response {
			return e.Post(token, `mutation($e: String!, $n: String!, $r: Role!) { createUser(input: {email: $e, name: $n, role: $r}) { user { id email name } } }`,
				map[string]any{"e": email, "n": name, "r": role})
		}
		refused := func(what string, r func() *graphtest.Response, code, field string) {
			t.Helper()
			before := mxSnapshot(t, e, "")
			res := r()
			mxExpectRefused(t, e, what, res, code, field, before, mxSnapshot(t, e, ""))
		}
		local := strings.Repeat("l", 64)
		domain := func(n int) string { // a domain of n >= 10 characters
			return strings.Repeat("d", 61) + "." + strings.Repeat("e", 61) + "." + strings.Repeat("f", n-61-61-2-4) + ".com"
		}
		email255 := local + "@" + domain(190)
		email254 := local + "@" + domain(189)
		if len(email255) != 255 || len(email254) != 254 {
			t.Fatalf("lengths %d %d", len(email255), len(email254))
		}
		for _, c := range []struct{ what, email, name, field string }{
			{"empty email", "", "Name", "email"},
			{"blank email", "   ", "Name", "email"},
			{"email without @", "no-at.example.com", "Name", "email"},
			{"email with two @", "a@b@example.com", "Name", "email"},
			{"255-char email", email255, "Name", "email"},
			{"email with CRLF", "a@example.com\r\nBcc: evil@example.com", "Name", "email"},
			{"email with CRLF inside", "a\r\n@example.com", "Name", "email"},
			{"email with a display name", "Eve <eve@example.com>", "Name", "email"},
			{"blank name", "ok1@example.com", "   ", "name"},
			{"empty name", "ok2@example.com", "", "name"},
			{"101-char name", "ok3@example.com", strings.Repeat("n", 101), "name"},
			{"name with CRLF", "ok4@example.com", "Eve\r\nBcc: x", "name"},
		} {
			refused(c.what, func() *graphtest.Response { return create(c.email, c.name, "VIEWER") }, "BAD_USER_INPUT", c.field)
		}
		// The limits themselves are allowed.
		if r := create(email254, strings.Repeat("n", 100), "VIEWER"); len(r.Errors) > 0 {
			t.Errorf("254-char email and 100-char name: %+v", r.Errors)
		}

		// Unknown role values are BAD_USER_INPUT, as a variable or inline.
		refused("unknown role variable", func() *graphtest.Response { return create("role1@example.com", "Name", "OWNER") }, "BAD_USER_INPUT", "")
		refused("lower-case role variable", func() *graphtest.Response { return create("role2@example.com", "Name", "viewer") }, "BAD_USER_INPUT", "")
		refused("unknown role inline", func() *graphtest.Response {
			return e.Post(token, `mutation { createUser(input: {email: "role3@example.com", name: "N", role: OWNER}) { user { id } } }`, nil)
		}, "BAD_USER_INPUT", "")

		// Emails are unique case-insensitively, across organisations.
		e.Invite(token, "dup@acme.test", "Dup", "VIEWER")
		if _, _, _, err := e.Service.CreateOrganization(context.Background(), "Other", "boss@other.test", "Boss"); err != nil {
			t.Fatal(err)
		}
		for _, email := range []string{"dup@acme.test", "DUP@Acme.Test", "  dup@acme.test ", "Boss@Other.TEST", "boss@other.test"} {
			refused("duplicate "+email, func() *graphtest.Response { return create(email, "Dup Again", "CREATOR") }, "CONFLICT", "")
		}

		// A removed user's email can be invited again.
		first := e.Invite(token, "again@acme.test", "Again", "VIEWER")
		oldLink := e.LinkToken("again@acme.test", "accept-invitation")
		var rm struct {
			RemoveUser struct{ RemovedUserID string }
		}
		e.MustPost(token, mxMutations["removeUser"], map[string]any{"id": first}, &rm)
		second := e.Invite(token, "Again@Acme.test", "Again", "CREATOR")
		if second == first || second == "" {
			t.Fatalf("re-invited id %q (first %q)", second, first)
		}
		if r := mxRow(t, e, second); r.Status != "INVITED" || r.Role != "CREATOR" || r.RemovedAt != nil || r.Email != "again@acme.test" {
			t.Errorf("re-invited user: %s", r)
		}
		if r := mxRow(t, e, first); r.RemovedAt == nil {
			t.Errorf("first user: %s", r)
		}
		r := e.Post("", `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id } } }`,
			map[string]any{"t": oldLink, "p": graphtest.Password})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("the removed user's invitation link: %q %s", r.Code(), r.Data)
		}
		e.Accept("again@acme.test")
		if r := mxRow(t, e, second); r.Status != "ACTIVE" {
			t.Errorf("the new invitation did not work: %s", r)
		}

		// changeRole to the current role; resendInvitation to ACTIVE users.
		viewer := e.SeedUser(&portal.User{OrgID: org, Email: "viewer@acme.test", Name: "Viewer", Role: access.Viewer})
		refused("changeRole to the current role", func() *graphtest.Response { return mxDo(e, token, "changeRole", viewer, "VIEWER") }, "BAD_USER_INPUT", "role")
		refused("changeRole to an unknown role", func() *graphtest.Response { return mxDo(e, token, "changeRole", viewer, "OWNER") }, "BAD_USER_INPUT", "")
		refused("resendInvitation to an ACTIVE user", func() *graphtest.Response { return mxDo(e, token, "resendInvitation", viewer, "") }, "BAD_USER_INPUT", "userId")
		refused("resetTwoFactor without 2FA", func() *graphtest.Response { return mxDo(e, token, "resetTwoFactor", viewer, "") }, "BAD_USER_INPUT", "userId")
	})
}

// usCountCounter counts statements that count rows.
type usCountCounter struct{ n atomic.Int64 }

func (h *usCountCounter) BeforeQuery(ctx context.Context, ev *bun.QueryEvent) context.Context {
	if strings.Contains(strings.ToLower(ev.Query), "count(*)") {
		h.n.Add(1)
	}
	return ctx
}

func (h *usCountCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// TestTotalCountOnlyWhenAsked: a page that does not select totalCount runs
// no count query; one that does runs exactly one.
func TestTotalCountOnlyWhenAsked(t *testing.T) {
	e := graphtest.New(t, graphtest.PostgresRedis)
	token, _ := e.CreateOrganization("Acme", "sa@acme.test")
	counter := &usCountCounter{}
	e.DB.Bun().AddQueryHook(counter)
	var out struct {
		Users struct {
			Nodes      []struct{ ID string }
			TotalCount *int
		}
	}
	e.MustPost(token, `{ users(first: 10) { nodes { id } } }`, nil, &out)
	if n := counter.n.Load(); n != 0 || len(out.Users.Nodes) != 1 {
		t.Fatalf("page without totalCount ran %d count queries (%d nodes)", n, len(out.Users.Nodes))
	}
	e.MustPost(token, `{ users(first: 10) { nodes { id } totalCount } }`, nil, &out)
	if n := counter.n.Load(); n != 1 || out.Users.TotalCount == nil || *out.Users.TotalCount != 1 {
		t.Fatalf("page with totalCount ran %d count queries, totalCount %v", n, out.Users.TotalCount)
	}
}
