package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

// When PostgreSQL kills the store's connections (a restart, a failover),
// calls fail closed with KindUnavailable at worst, and the store recovers
// by itself without being reopened. Only this test's own database is touched.
func TestPostgresKilledConnectionsRecover(t *testing.T) {
	url := storetest.NewPostgresURL(t)
	db, err := store.Open(url, storetest.Box(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org := &portal.Organization{Name: "Acme", CreatedAt: time.Now().UTC()}
	if err := db.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", storetest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var dbname string
	if err := db.Bun().QueryRowContext(ctx, "SELECT current_database()").Scan(&dbname); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		var killed int
		if err := admin.QueryRowContext(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", dbname).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed == 0 {
			t.Fatal("no connection of the store was killed")
		}
		var ok bool
		for i := 0; i < 20 && !ok; i++ {
			_, err := db.Organization(ctx, org.ID)
			switch {
			case err == nil:
				ok = true
			case portal.KindOf(err) != portal.KindUnavailable:
				t.Fatalf("after killed connections: %v (kind %s), want success or unavailable", err, portal.KindOf(err))
			default:
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !ok {
			t.Fatal("store did not recover after its connections were killed")
		}
	}
}
