package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store/storetest"
)

// FuzzCursorValue feeds arbitrary cursors (and orders) to ListUsers on
// SQLite: a cursor is client input, so whatever it holds the answer is a
// page or a BAD_USER_INPUT error, never an internal error or a panic.
func FuzzCursorValue(f *testing.F) {
	ctx := context.Background()
	db := storetest.SQLite(f, storetest.Box(f))
	org := &portal.Organization{Name: "Fuzz", CreatedAt: time.Now().UTC()}
	if err := db.CreateOrganization(ctx, org); err != nil {
		f.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, name := range []string{"alice", "Alice", "bob", "carol", "dave"} {
		u := &portal.User{OrgID: org.ID, Email: name + "@fuzz.test", Name: name, Role: access.Roles[i%len(access.Roles)],
			Status: portal.StatusActive, CreatedAt: base}
		if i == 1 {
			u.Email = "alice2@fuzz.test"
		}
		if i%2 == 0 {
			at := base.Add(time.Duration(i) * time.Hour)
			u.LastActiveAt = &at
		}
		if err := db.CreateUser(ctx, u); err != nil {
			f.Fatal(err)
		}
	}
	id := uuid.NewString()

	// order, desc, field, cursor desc, has value, value, id
	f.Add("NAME", false, "NAME", false, true, "alice", id)
	f.Add("NAME", true, "NAME", true, true, "", id)
	f.Add("NAME", false, "NAME", false, false, "", id)
	f.Add("NAME", false, "NAME", false, true, "a\x00b", id)
	f.Add("NAME", false, "NAME", false, true, "\xff\xfe'--", id)
	f.Add("EMAIL", false, "EMAIL", false, true, "' OR 1=1 --", id)
	f.Add("EMAIL", false, "EMAIL", false, true, "alice@fuzz.test", "not-a-uuid")
	f.Add("EMAIL", false, "EMAIL", false, true, "alice@fuzz.test", "")
	f.Add("EMAIL", false, "EMAIL", false, true, "alice@fuzz.test", "\x00")
	f.Add("ROLE", false, "ROLE", false, true, "-1", id)
	f.Add("ROLE", false, "ROLE", false, true, "99", id)
	f.Add("ROLE", false, "ROLE", false, true, "5", id)
	f.Add("ROLE", true, "ROLE", true, true, "0x1", id)
	f.Add("ROLE", false, "ROLE", false, true, "99999999999999999999", id)
	f.Add("ROLE", false, "ROLE", false, false, "", id)
	f.Add("CREATED_AT", false, "CREATED_AT", false, true, "yesterday", id)
	f.Add("CREATED_AT", false, "CREATED_AT", false, true, "2026-03-01T09:00:00Z", id)
	f.Add("CREATED_AT", false, "CREATED_AT", false, true, "0000-01-01T00:00:00Z", id)
	f.Add("CREATED_AT", false, "CREATED_AT", false, true, "9999-12-31T23:59:59-23:59", id)
	f.Add("CREATED_AT", false, "CREATED_AT", false, true, "2026-03-01T09:00:00.123456789+05:30", id)
	f.Add("CREATED_AT", false, "CREATED_AT", false, false, "", id)
	f.Add("LAST_ACTIVE_AT", false, "LAST_ACTIVE_AT", false, false, "", id)
	f.Add("LAST_ACTIVE_AT", true, "LAST_ACTIVE_AT", true, false, "", id)
	f.Add("LAST_ACTIVE_AT", true, "LAST_ACTIVE_AT", true, true, "2026-03-01T10:00:00Z", id)
	f.Add("LAST_ACTIVE_AT", false, "LAST_ACTIVE_AT", false, true, "2026-02-30T10:00:00Z", id)
	f.Add("CREATED_AT", false, "NAME", false, true, "yesterday", id)
	f.Add("ROLE", false, "CREATED_AT", false, true, "2026-03-01T09:00:00Z", id)
	f.Add("NAME", false, "NAME", true, true, "alice", id)
	f.Add("NAME", false, "", false, true, "alice", id)
	f.Add("", false, "", false, true, "alice", id)
	f.Add("BOGUS", false, "BOGUS", false, true, "x", id)

	f.Fuzz(func(t *testing.T, order string, desc bool, field string, cdesc, hasValue bool, value, cid string) {
		c := &portal.Cursor{Field: portal.OrderField(field), Desc: cdesc, ID: cid}
		if hasValue {
			c.Value = &value
		}
		q := portal.ListQuery{Order: portal.UserOrder{Field: portal.OrderField(order), Desc: desc}, After: c, Limit: 3}
		users, _, err := db.ListUsers(ctx, org.ID, q)
		if err != nil {
			if k := portal.KindOf(err); k != portal.KindInvalid {
				t.Fatalf("ListUsers(%+v, cursor %+v value %q): %s error: %v", q.Order, *c, value, k, err)
			}
			return
		}
		if len(users) > 3 {
			t.Fatalf("%d users for limit 3", len(users))
		}
		for _, u := range users {
			if u.OrgID != org.ID {
				t.Fatalf("user of org %s listed", u.OrgID)
			}
		}
	})
}
