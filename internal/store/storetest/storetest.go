// Package storetest opens fresh, migrated databases for tests: a new
// PostgreSQL database per test (dropped afterwards) and a SQLite file in
// the test's temporary directory. Tests never share a database, so runs
// may overlap.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/clientportal/portal/internal/secretbox"
	"github.com/clientportal/portal/internal/store"
)

// AdminURL is the PostgreSQL server used by tests: PORTAL_TEST_POSTGRES_URL,
// or postgres@127.0.0.1:5432.
func AdminURL() string {
	if u := os.Getenv("PORTAL_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Box returns a secret box with a fresh key.
func Box(tb testing.TB) *secretbox.Box {
	b, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// NewPostgresURL creates an empty database and returns its URL; the
// database is dropped when the test ends.
func NewPostgresURL(tb testing.TB) string {
	tb.Helper()
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "portal_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		tb.Fatalf("create test database (is PostgreSQL running? see .ci/run): %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", AdminURL())
		if err != nil {
			tb.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres returns a migrated store on a fresh PostgreSQL database.
func Postgres(tb testing.TB, box *secretbox.Box) *store.DB {
	tb.Helper()
	return open(tb, NewPostgresURL(tb), box)
}

// SQLite returns a migrated store on a fresh SQLite file.
func SQLite(tb testing.TB, box *secretbox.Box) *store.DB {
	tb.Helper()
	return open(tb, tb.TempDir()+"/portal.db", box)
}

func open(tb testing.TB, u string, box *secretbox.Box) *store.DB {
	db, err := store.Open(u, box)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// Backends lists the two databases by name, for table-driven tests.
var Backends = []string{"sqlite", "postgres"}

// Open returns a migrated store on the named backend ("sqlite" or "postgres").
func Open(tb testing.TB, backend string, box *secretbox.Box) *store.DB {
	tb.Helper()
	if strings.HasPrefix(backend, "postgres") {
		return Postgres(tb, box)
	}
	return SQLite(tb, box)
}

// Each runs fn as a subtest on each backend with a fresh store.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) {
			fn(t, Open(t, b, Box(t)))
		})
	}
}
