package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

// listNames are the names of the seeded users. They collide on purpose
// after lower-casing, and mix punctuation, digits, upper case and non-ASCII
// so that a collation other than bytewise (e.g. en_US, which ignores
// punctuation and case at first level) would give a different order.
var listNames = []string{
	"alice", "Alice", "ALICE", "alice", "Bob", "bob", "BOB",
	"carol", "Carol", "dave", "Dave", "a b", "ab", "a-b", "aB",
	"100% real", "100 real", "under_score", "underXscore", "under-score",
	"back\\slash", "Zed", "zed", "Émile", "émile", "eve", "Eve",
	"mallory", "Mallory", "oscar", "peggy", "Peggy", "trent", "victor",
	"walter", "x", "X", "y", "1", "10",
}

// listEmail gives each user a distinct lower-cased address; a few
// carry % and _ so the literal-search cases can tell a wildcard from a
// literal match.
func listEmail(i int) string {
	switch i {
	case 3:
		return "fifty%off@acme.test"
	case 9:
		return "d_ave@acme.test"
	case 30:
		return "peggy@ali.test" // matches "ALI" through the email only
	}
	return fmt.Sprintf("u%02d@acme.test", i)
}

type listFixture struct {
	org      *portal.Organization
	users    []*portal.User // live users of org, as seeded
	others   []string       // ids that must never be listed (other org, removed)
	otherOrg string
}

var listBase = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func seedList(t *testing.T, db *store.DB) *listFixture {
	t.Helper()
	ctx := context.Background()
	f := &listFixture{org: &portal.Organization{Name: "Acme", CreatedAt: listBase}}
	if err := db.CreateOrganization(ctx, f.org); err != nil {
		t.Fatal(err)
	}
	other := &portal.Organization{Name: "Other", CreatedAt: listBase}
	if err := db.CreateOrganization(ctx, other); err != nil {
		t.Fatal(err)
	}
	f.otherOrg = other.ID
	var all []*portal.User
	for i, name := range listNames {
		u := &portal.User{
			// Random (v4) ids, so the id order is unrelated to every other
			// column and to the insertion order.
			ID:    uuid.NewString(),
			OrgID: f.org.ID, Email: listEmail(i), Name: name,
			Role:   access.Roles[(i*3)%len(access.Roles)],
			Status: portal.StatusActive,
			// Groups of four share created_at; microseconds matter.
			CreatedAt: listBase.Add(time.Duration(i/4)*time.Minute + 7*time.Microsecond),
		}
		if i%3 == 0 {
			u.Status = portal.StatusInvited
		}
		if i%5 != 0 { // every fifth user was never active (NULL)
			at := listBase.Add(time.Duration(i%4) * time.Hour).Add(time.Duration(i%2) * time.Microsecond)
			u.LastActiveAt = &at
		}
		all = append(all, u)
		f.users = append(f.users, u)
	}
	// Another organisation with names and timestamps that interleave.
	for i, name := range []string{"alice", "Bob", "aaa", "zzz", "mallory"} {
		at := listBase.Add(time.Duration(i) * time.Hour)
		u := &portal.User{ID: uuid.NewString(), OrgID: other.ID, Email: fmt.Sprintf("other%d@ali.test", i),
			Name: name, Role: access.Roles[i%len(access.Roles)], Status: portal.StatusActive,
			CreatedAt: listBase, LastActiveAt: &at}
		if i == 0 {
			u.LastActiveAt = nil
		}
		all = append(all, u)
		f.others = append(f.others, u.ID)
	}
	removed := &portal.User{ID: uuid.NewString(), OrgID: f.org.ID, Email: "gone@ali.test", Name: "alice",
		Role: access.Viewer, Status: portal.StatusActive, CreatedAt: listBase}
	all = append(all, removed)
	f.others = append(f.others, removed.ID)

	// Insert in a shuffled order so nothing depends on insertion order.
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, u := range all {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RemoveUser(ctx, f.org.ID, removed.ID, listBase.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return f
}

var listOrders = []portal.OrderField{portal.OrderName, portal.OrderEmail, portal.OrderRole, portal.OrderLastActive, portal.OrderCreated}

func roleIndex(r access.Role) int {
	i := slices.Index(access.Roles, r)
	if i < 0 {
		return len(access.Roles)
	}
	return i
}

// compareAsc is the documented ascending order of a column: names
// case-insensitively (bytewise on the lower-cased name), emails bytewise,
// roles in the order access.Roles declares them (SUPER_ADMIN first), NULL
// last_active_at lowest. It returns 0 on a tie.
func compareAsc(field portal.OrderField, a, b *portal.User) int {
	switch field {
	case portal.OrderEmail:
		return strings.Compare(a.Email, b.Email)
	case portal.OrderRole:
		return roleIndex(a.Role) - roleIndex(b.Role)
	case portal.OrderLastActive:
		switch {
		case a.LastActiveAt == nil && b.LastActiveAt == nil:
			return 0
		case a.LastActiveAt == nil:
			return -1
		case b.LastActiveAt == nil:
			return 1
		}
		return a.LastActiveAt.Compare(*b.LastActiveAt)
	case portal.OrderCreated:
		return a.CreatedAt.Compare(b.CreatedAt)
	}
	return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
}

// expectedOrder sorts users by o, ties broken by id in the same direction.
func expectedOrder(users []*portal.User, o portal.UserOrder) []string {
	us := slices.Clone(users)
	sort.SliceStable(us, func(i, j int) bool {
		c := compareAsc(o.Field, us[i], us[j])
		if c == 0 {
			c = strings.Compare(us[i].ID, us[j].ID)
		}
		if o.Desc {
			return c > 0
		}
		return c < 0
	})
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

// walk reads every page of q with the given page size, passing the cursor
// of each page's last row (through a JSON round trip, as a client would)
// as the next After.
func walk(t *testing.T, db *store.DB, orgID string, filter portal.UserFilter, o portal.UserOrder, size int) []*portal.User {
	t.Helper()
	ctx := context.Background()
	var out []*portal.User
	var after *portal.Cursor
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("no end after %d pages", page)
		}
		got, cursors, err := db.ListUsers(ctx, orgID, portal.ListQuery{Filter: filter, Order: o, After: after, Limit: size})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(got) > size {
			t.Fatalf("page %d: %d rows, limit %d", page, len(got), size)
		}
		out = append(out, got...)
		if len(got) < size {
			return out
		}
		c := cursors[len(got)-1]
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		after = new(portal.Cursor)
		if err := json.Unmarshal(b, after); err != nil {
			t.Fatal(err)
		}
	}
}

func describe(byID map[string]*portal.User, ids []string, o portal.UserOrder) string {
	var b strings.Builder
	for _, id := range ids {
		u := byID[id]
		if u == nil {
			fmt.Fprintf(&b, "\n  %s (unknown)", id)
			continue
		}
		c := store.CursorOf(u, o)
		v := "NULL"
		if c.Value != nil {
			v = *c.Value
		}
		fmt.Fprintf(&b, "\n  %-36s %-14q %s", u.ID, u.Name, v)
	}
	return b.String()
}

func checkWalk(t *testing.T, f *listFixture, got []*portal.User, want []string, o portal.UserOrder) {
	t.Helper()
	byID := map[string]*portal.User{}
	for _, u := range f.users {
		byID[u.ID] = u
	}
	ids := make([]string, len(got))
	seen := map[string]bool{}
	for i, u := range got {
		ids[i] = u.ID
		if seen[u.ID] {
			t.Errorf("user %s (%q) listed twice", u.ID, u.Name)
		}
		seen[u.ID] = true
		if slices.Contains(f.others, u.ID) {
			t.Errorf("user %s (%q) of another organisation or removed was listed", u.ID, u.Name)
		}
		if u.OrgID != f.org.ID {
			t.Errorf("user %s has org %s", u.ID, u.OrgID)
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("order %v:\ngot:%s\nwant:%s", o, describe(byID, ids, o), describe(byID, want, o))
	}
}

func TestListUsersOrdersAndPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := seedList(t, db)
		for _, field := range listOrders {
			for _, desc := range []bool{false, true} {
				o := portal.UserOrder{Field: field, Desc: desc}
				want := expectedOrder(f.users, o)
				for _, size := range []int{1, 3, 7, len(f.users), len(f.users) + 5} {
					t.Run(fmt.Sprintf("%s/desc=%v/size=%d", field, desc, size), func(t *testing.T) {
						checkWalk(t, f, walk(t, db, f.org.ID, portal.UserFilter{}, o, size), want, o)
					})
				}
			}
		}
	})
}

// TestListUsersSeedCollides makes sure the fixture really has the ties the
// ordering tests are about.
func TestListUsersSeedCollides(t *testing.T) {
	f := &listFixture{}
	for i, name := range listNames {
		u := &portal.User{ID: fmt.Sprint(i), Name: name, Email: listEmail(i), CreatedAt: listBase.Add(time.Duration(i/4) * time.Minute)}
		if i%5 != 0 {
			at := listBase.Add(time.Duration(i%4) * time.Hour).Add(time.Duration(i%2) * time.Microsecond)
			u.LastActiveAt = &at
		}
		u.Role = access.Roles[(i*3)%len(access.Roles)]
		f.users = append(f.users, u)
	}
	for _, field := range listOrders {
		ties := 0
		for i, a := range f.users {
			for _, b := range f.users[i+1:] {
				if compareAsc(field, a, b) == 0 {
					ties++
				}
			}
		}
		if field != portal.OrderEmail && ties < 3 {
			t.Errorf("%s: only %d ties in the fixture", field, ties)
		}
	}
	nulls := 0
	for _, u := range f.users {
		if u.LastActiveAt == nil {
			nulls++
		}
	}
	if nulls < 3 {
		t.Errorf("only %d NULL last_active_at", nulls)
	}
}

func statusPtr(s portal.Status) *portal.Status { return &s }

func TestListUsersFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := seedList(t, db)
		matches := func(flt portal.UserFilter, u *portal.User) bool {
			if s := strings.ToLower(flt.Search); s != "" &&
				!strings.Contains(strings.ToLower(u.Name), s) && !strings.Contains(strings.ToLower(u.Email), s) {
				return false
			}
			if len(flt.Roles) > 0 && !slices.Contains(flt.Roles, u.Role) {
				return false
			}
			return flt.Status == nil || *flt.Status == u.Status
		}
		cases := []struct {
			name   string
			filter portal.UserFilter
			min    int // the fixture must give at least this many matches
		}{
			{"none", portal.UserFilter{}, len(listNames)},
			{"search-upper", portal.UserFilter{Search: "ALI"}, 5},       // alice x4, peggy@ali.test
			{"search-mixed", portal.UserFilter{Search: "aLiCe"}, 4},     // case-insensitive on name
			{"search-email", portal.UserFilter{Search: "@ALI.TEST"}, 1}, // email only; other org and removed excluded
			{"search-accent", portal.UserFilter{Search: "ÉMILE"}, 2},    // non-ASCII lower-cased alike
			{"search-percent", portal.UserFilter{Search: "%"}, 2},       // "100% real", fifty%off@
			{"search-percent-r", portal.UserFilter{Search: "0% r"}, 1},  // not "100 real"
			{"search-underscore", portal.UserFilter{Search: "_"}, 2},    // under_score, d_ave@
			{"search-under_s", portal.UserFilter{Search: "under_s"}, 1}, // not underXscore / under-score
			{"search-backslash", portal.UserFilter{Search: `k\s`}, 1},   // back\slash
			{"search-nothing", portal.UserFilter{Search: "no such user"}, 0},
			{"roles", portal.UserFilter{Roles: []access.Role{access.Admin, access.Viewer}}, 10},
			{"role-one", portal.UserFilter{Roles: []access.Role{access.SuperAdmin}}, 5},
			{"status-invited", portal.UserFilter{Status: statusPtr(portal.StatusInvited)}, 10},
			{"status-active", portal.UserFilter{Status: statusPtr(portal.StatusActive)}, 20},
			{"combined", portal.UserFilter{Search: "O", Roles: []access.Role{access.Creator, access.EcommerceViewer, access.Admin}, Status: statusPtr(portal.StatusActive)}, 3},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var want []*portal.User
				for _, u := range f.users {
					if matches(c.filter, u) {
						want = append(want, u)
					}
				}
				if len(want) < c.min {
					t.Fatalf("fixture gives %d matches, want at least %d", len(want), c.min)
				}
				if c.name == "search-nothing" && len(want) != 0 {
					t.Fatalf("fixture matches %d", len(want))
				}
				n, err := db.CountUsers(ctx, f.org.ID, c.filter)
				if err != nil {
					t.Fatal(err)
				}
				if n != len(want) {
					t.Errorf("CountUsers = %d, want %d", n, len(want))
				}
				for _, o := range []portal.UserOrder{{Field: portal.OrderName}, {Field: portal.OrderLastActive, Desc: true}, {Field: portal.OrderRole}} {
					checkWalk(t, f, walk(t, db, f.org.ID, c.filter, o, 3), expectedOrder(want, o), o)
				}
			})
		}
		// The other organisation sees only its own users, even when the
		// filter matches users of this one.
		flt := portal.UserFilter{Search: "ali"}
		n, err := db.CountUsers(ctx, f.otherOrg, flt)
		if err != nil || n != 5 {
			t.Errorf("CountUsers(other org) = %d, %v; want 5", n, err)
		}
		got, _, err := db.ListUsers(ctx, f.otherOrg, portal.ListQuery{Filter: flt, Order: portal.UserOrder{Field: portal.OrderName}, Limit: 100})
		if err != nil || len(got) != 5 {
			t.Fatalf("ListUsers(other org) = %d users, %v; want 5", len(got), err)
		}
		for _, u := range got {
			if u.OrgID != f.otherOrg || !slices.Contains(f.others, u.ID) {
				t.Errorf("other org listed %s (%q) of org %s", u.ID, u.Name, u.OrgID)
			}
		}
		// An unknown organisation has no users.
		if n, err := db.CountUsers(ctx, uuid.NewString(), portal.UserFilter{}); err != nil || n != 0 {
			t.Errorf("CountUsers(unknown org) = %d, %v", n, err)
		}
	})
}

func TestListUsersInvalidCursor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := seedList(t, db)
		id := f.users[0].ID
		s := func(v string) *string { return &v }
		cases := []struct {
			order portal.UserOrder
			after portal.Cursor
		}{
			{portal.UserOrder{Field: portal.OrderCreated}, portal.Cursor{Field: portal.OrderCreated, Value: s("yesterday"), ID: id}},
			{portal.UserOrder{Field: portal.OrderCreated}, portal.Cursor{Field: portal.OrderCreated, ID: id}}, // NULL
			{portal.UserOrder{Field: portal.OrderCreated}, portal.Cursor{Field: portal.OrderCreated, Value: s("0000-01-01T00:00:00Z"), ID: id}},
			{portal.UserOrder{Field: portal.OrderCreated}, portal.Cursor{Field: portal.OrderCreated, Value: s("9999-12-31T23:59:59-23:59"), ID: id}}, // year 10000 in UTC
			{portal.UserOrder{Field: portal.OrderLastActive}, portal.Cursor{Field: portal.OrderLastActive, Value: s("2026-13-01T00:00:00Z"), ID: id}},
			{portal.UserOrder{Field: portal.OrderLastActive}, portal.Cursor{Field: portal.OrderLastActive, Value: s(""), ID: id}},
			{portal.UserOrder{Field: portal.OrderRole}, portal.Cursor{Field: portal.OrderRole, Value: s("-1"), ID: id}},
			{portal.UserOrder{Field: portal.OrderRole}, portal.Cursor{Field: portal.OrderRole, Value: s("99"), ID: id}},
			{portal.UserOrder{Field: portal.OrderRole}, portal.Cursor{Field: portal.OrderRole, Value: s("ADMIN"), ID: id}},
			{portal.UserOrder{Field: portal.OrderRole}, portal.Cursor{Field: portal.OrderRole, Value: s("99999999999999999999999"), ID: id}},
			{portal.UserOrder{Field: portal.OrderName}, portal.Cursor{Field: portal.OrderName, ID: id}}, // NULL name
			{portal.UserOrder{Field: portal.OrderName}, portal.Cursor{Field: portal.OrderName, Value: s("a\x00b"), ID: id}},
			{portal.UserOrder{Field: portal.OrderEmail}, portal.Cursor{Field: portal.OrderEmail, Value: s("\xff\xfe"), ID: id}},
			{portal.UserOrder{Field: portal.OrderName}, portal.Cursor{Field: portal.OrderName, Value: s("alice"), ID: "not-an-id"}},
			{portal.UserOrder{Field: portal.OrderName}, portal.Cursor{Field: portal.OrderName, Value: s("alice"), ID: "\x00"}},
			// A cursor is bound to its order: field and direction.
			{portal.UserOrder{Field: portal.OrderCreated}, portal.Cursor{Field: portal.OrderName, Value: s("yesterday"), ID: id}},
			{portal.UserOrder{Field: portal.OrderRole}, portal.Cursor{Field: portal.OrderCreated, Value: s("2026-03-01T09:00:00Z"), ID: id}},
			{portal.UserOrder{Field: portal.OrderLastActive}, portal.Cursor{Field: portal.OrderEmail, Value: s("a@b"), ID: id}},
			{portal.UserOrder{Field: portal.OrderName}, portal.Cursor{Field: portal.OrderName, Desc: true, Value: s("alice"), ID: id}},
			{portal.UserOrder{Field: portal.OrderName, Desc: true}, portal.Cursor{Field: portal.OrderName, Value: s("alice"), ID: id}},
			{portal.UserOrder{Field: portal.OrderName}, portal.Cursor{Field: "BOGUS", Value: s("alice"), ID: id}},
		}
		for _, c := range cases {
			after := c.after
			_, _, err := db.ListUsers(ctx, f.org.ID, portal.ListQuery{Order: c.order, After: &after, Limit: 3})
			if portal.KindOf(err) != portal.KindInvalid {
				v := "<nil>"
				if after.Value != nil {
					v = fmt.Sprintf("%q", *after.Value)
				}
				t.Errorf("order %v, cursor {%s %v %s %q}: err = %v, want %s", c.order, after.Field, after.Desc, v, after.ID, err, portal.KindInvalid)
			}
		}
		// A search PostgreSQL cannot take as text is bad input too.
		for _, search := range []string{"a\x00b", "\xff"} {
			flt := portal.UserFilter{Search: search}
			if _, _, err := db.ListUsers(ctx, f.org.ID, portal.ListQuery{Filter: flt, Limit: 3}); portal.KindOf(err) != portal.KindInvalid {
				t.Errorf("ListUsers(search %q): %v, want %s", search, err, portal.KindInvalid)
			}
			if _, err := db.CountUsers(ctx, f.org.ID, flt); portal.KindOf(err) != portal.KindInvalid {
				t.Errorf("CountUsers(search %q): %v, want %s", search, err, portal.KindInvalid)
			}
		}
		// Valid cursors that point at no row are still positions.
		for _, c := range []portal.Cursor{
			{Field: portal.OrderCreated, Value: s("2026-03-01T09:03:30.5+02:00"), ID: uuid.NewString()},
			{Field: portal.OrderRole, Value: s("5"), ID: uuid.NewString()},
			{Field: portal.OrderName, Value: s(""), ID: uuid.NewString()},
		} {
			if _, _, err := db.ListUsers(ctx, f.org.ID, portal.ListQuery{Order: portal.UserOrder{Field: c.Field}, After: &c, Limit: 3}); err != nil {
				t.Errorf("cursor %+v: %v", c, err)
			}
		}
	})
}
