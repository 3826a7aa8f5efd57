package store_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

// Five processes migrating one empty database at once (each with its own
// connection pool, as separate instances have): all succeed, the
// migrations are applied exactly once, and the schema is complete.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := storetest.NewPostgresURL(t)
	const n = 5
	var wg sync.WaitGroup
	applied := make([][]string, n)
	errs := make([]error, n)
	for i := range n {
		db, err := store.Open(url, storetest.Box(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		wg.Go(func() { applied[i], errs[i] = db.Migrate(context.Background()) })
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("instance %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	db := openPlain(t, url)
	var want int
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if want == 0 || total != want {
		t.Fatalf("instances applied %d migrations in total; the database records %d", total, want)
	}
	if _, err := db.Exec("SELECT id, email FROM users LIMIT 1"); err != nil {
		t.Fatalf("schema incomplete: %v", err)
	}
}

// Migrate waits while another process holds the migration lock, and goes
// on as soon as that process's session ends (a crash, not an unlock): no
// lock outlives its holder.
func TestMigrateLockDiesWithHolder(t *testing.T) {
	t.Parallel()
	url := storetest.NewPostgresURL(t)
	holder := openPlain(t, url)
	conn, err := holder.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_lock($1)", store.MigrationLock); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}

	db, err := store.Open(url, storetest.Box(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := make(chan error, 1)
	go func() { _, err := db.Migrate(context.Background()); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Migrate did not wait for the lock: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	// The holder's session dies without unlocking.
	if _, err := openPlain(t, url).Exec("SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Migrate still waits after the holder died")
	}
	// And it released the lock itself: another run passes straight away.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if names, err := db.Migrate(ctx); err != nil || len(names) != 0 {
		t.Fatalf("second Migrate = %v, %v", names, err)
	}
}

// A lock row left in bun's lock table by a crashed older version does not
// block a start.
func TestMigrateIgnoresStaleLockRow(t *testing.T) {
	t.Parallel()
	url := storetest.NewPostgresURL(t)
	plain := openPlain(t, url)
	for _, q := range []string{
		`CREATE TABLE schema_migration_locks (id bigserial PRIMARY KEY, table_name varchar UNIQUE)`,
		`INSERT INTO schema_migration_locks (table_name) VALUES ('schema_migrations')`,
	} {
		if _, err := plain.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(url, storetest.Box(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if names, err := db.Migrate(ctx); err != nil || len(names) == 0 {
		t.Fatalf("Migrate with a stale lock row = %v, %v", names, err)
	}
}

func openPlain(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
