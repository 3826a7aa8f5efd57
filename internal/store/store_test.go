package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		names, err := db.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 0 {
			t.Fatalf("second Migrate applied %v", names)
		}
	})
}

// seedAnn creates organisation Acme with one user, ann@example.com, of
// the given role and status, at now.
func seedAnn(t *testing.T, db *store.DB, role access.Role, status portal.Status, now time.Time) (*portal.Organization, *portal.User) {
	t.Helper()
	ctx := context.Background()
	org := &portal.Organization{Name: "Acme", CreatedAt: now}
	if err := db.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	u := &portal.User{OrgID: org.ID, Email: "ann@example.com", Name: "Ann", Role: role, Status: status, CreatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return org, u
}

func TestUserEmailUniqueCaseInsensitive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		org, u := seedAnn(t, db, access.Admin, portal.StatusInvited, now)
		got, err := db.UserByEmail(ctx, "ANN@example.COM")
		if err != nil || got.ID != u.ID || !got.CreatedAt.Equal(now) {
			t.Fatalf("UserByEmail = %+v, %v", got, err)
		}
		dup := &portal.User{OrgID: org.ID, Email: "ann@example.com", Name: "Ann 2", Role: "VIEWER", Status: portal.StatusInvited, CreatedAt: now}
		if err := db.CreateUser(ctx, dup); portal.KindOf(err) != portal.KindConflict {
			t.Fatalf("duplicate email: %v, want conflict", err)
		}
		if err := db.RemoveUser(ctx, org.ID, u.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.User(ctx, org.ID, u.ID); portal.KindOf(err) != portal.KindNotFound {
			t.Fatalf("removed user found: %v", err)
		}
		if err := db.CreateUser(ctx, dup); err != nil {
			t.Fatalf("re-invite after removal: %v", err)
		}
		if _, err := db.User(ctx, "other-org", dup.ID); portal.KindOf(err) != portal.KindNotFound {
			t.Fatalf("user found through another organisation: %v", err)
		}
		if _, err := db.User(ctx, org.ID, "not-a-uuid"); portal.KindOf(err) != portal.KindNotFound {
			t.Fatalf("forged id: %v", err)
		}
	})
}

// Wrong TOTP codes are counted in a window that restarts once it is older
// than the window length; an accepted code clears the count.
func TestRecordWrongCode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		org, u := seedAnn(t, db, access.Viewer, portal.StatusActive, now)
		day := 24 * time.Hour
		for i, at := range []time.Duration{0, time.Hour, 23 * time.Hour} {
			n, since, err := db.RecordWrongCode(ctx, u.ID, now.Add(at), day)
			if err != nil || n != i+1 || !since.Equal(now) {
				t.Fatalf("wrong code %d: %d since %v, %v", i+1, n, since, err)
			}
		}
		n, since, err := db.RecordWrongCode(ctx, u.ID, now.Add(day), day)
		if err != nil || n != 1 || !since.Equal(now.Add(day)) {
			t.Fatalf("after a day: %d since %v, %v (want a new window)", n, since, err)
		}
		if ok, err := db.AcceptTOTPStep(ctx, u.ID, 100); !ok || err != nil {
			t.Fatal(ok, err)
		}
		got, err := db.User(ctx, org.ID, u.ID)
		if err != nil || got.TOTPFailures != 0 || got.TOTPFailuresSince != nil {
			t.Fatalf("after an accepted code: %d since %v, %v", got.TOTPFailures, got.TOTPFailuresSince, err)
		}
		if _, _, err := db.RecordWrongCode(ctx, "01a202ef-70f4-7877-b146-17014f9f8003", now, day); portal.KindOf(err) != portal.KindNotFound {
			t.Fatalf("unknown user: %v", err)
		}
	})
}
