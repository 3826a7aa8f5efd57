// Package store is the bun adapter of portal.Store for PostgreSQL (pgx
// through database/sql) and SQLite (pure-Go modernc driver), with the
// embedded migrations both share. It translates driver errors into domain
// errors: no rows -> portal.ErrNotFound, unique violations -> conflict,
// lost connections -> portal.ErrUnavailable.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/migrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/secretbox"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is the store. It implements portal.Store; InTx hands out copies bound
// to a transaction.
type DB struct {
	db       *bun.DB
	idb      bun.IDB // db, or the transaction this copy is bound to
	postgres bool
	box      *secretbox.Box // seals outbox payloads
}

var _ portal.Store = (*DB)(nil)

// IsPostgres reports whether url names a PostgreSQL database; anything else
// is taken as a SQLite file path (or a file: URL).
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open connects to the database at url (postgres://... or a SQLite file
// path). It does not migrate; call Migrate.
func Open(url string, box *secretbox.Box) (*DB, error) {
	if IsPostgres(url) {
		sqldb, err := openPostgres(url)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db := bun.NewDB(sqldb, pgdialect.New())
		return &DB{db: db, idb: db, postgres: true, box: box}, nil
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
	if path == "" {
		path = "portal.db"
	}
	// One connection: SQLite has one writer anyway, and a single
	// connection turns lock contention into queueing instead of
	// SQLITE_BUSY errors. WAL keeps readers cheap.
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	sqldb.SetMaxOpenConns(1)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	return &DB{db: db, idb: db, box: box}, nil
}

// Bun exposes the underlying handle for tests and tools (e.g. EXPLAIN).
func (s *DB) Bun() *bun.DB { return s.db }

// Postgres reports whether this store runs on PostgreSQL.
func (s *DB) Postgres() bool { return s.postgres }

// Close closes the connection pool.
func (s *DB) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return translate(err)
	}
	return nil
}

func (s *DB) migrator() *migrate.Migrator {
	ms := migrate.NewMigrations()
	if err := ms.Discover(migrationFiles); err != nil {
		panic(err) // the embedded files are fixed at build time
	}
	return migrate.NewMigrator(s.db, ms,
		migrate.WithTableName("schema_migrations"),
		migrate.WithLocksTableName("schema_migration_locks"),
		migrate.WithMarkAppliedOnSuccess(true),
		migrate.WithTemplateData(map[string]bool{"Postgres": s.postgres}))
}

// MigrationLock is the PostgreSQL advisory lock that serialises migration
// runs across processes ("portal" in ASCII). It is session-level, held on a
// connection of its own: if the holder dies its connection closes and
// PostgreSQL releases the lock, so no lock outlives its holder. (bun's own
// lock is a row in a table, which a crash leaves behind for good; it is
// not used.)
const MigrationLock int64 = 0x706f7274616c

// Migrate applies every pending migration and returns their names. On
// PostgreSQL it first takes MigrationLock, waiting while another process
// (an instance starting at the same time, or `portal migrate`) holds it;
// it then finds that process's work done and applies only what is still
// pending. SQLite is one process's file: no lock is needed.
func (s *DB) Migrate(ctx context.Context) ([]string, error) {
	if s.postgres {
		unlock, err := s.lockMigrations(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	m := s.migrator()
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate init: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var names []string
	for _, mg := range group.Migrations {
		names = append(names, mg.Name+"_"+mg.Comment)
	}
	return names, nil
}

// lockMigrations takes MigrationLock on a connection of its own and
// returns the function that releases it.
func (s *DB) lockMigrations(ctx context.Context) (unlock func(), err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate lock: %w", translate(err))
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", MigrationLock); err != nil {
		discard(conn)
		return nil, fmt.Errorf("migrate lock: %w", translate(err))
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock(?)", MigrationLock); err != nil {
			discard(conn) // closing the session releases the lock
			return
		}
		conn.Close()
	}, nil
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn bun.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// InTx runs fn in one transaction. On PostgreSQL the isolation level is
// READ COMMITTED with explicit row locks (LockUser); SQLite transactions
// take the write lock at BEGIN (_txlock=immediate), so they serialise.
func (s *DB) InTx(ctx context.Context, fn func(tx portal.Store) error) error {
	return s.inTx(ctx, func(idb bun.IDB) error {
		c := *s
		c.idb = idb
		return fn(&c)
	})
}

// inTx runs fn on one transaction: the one s is bound to, or a new one
// (run again after a deadlock), whose error is translated.
func (s *DB) inTx(ctx context.Context, fn func(idb bun.IDB) error) error {
	if tx, ok := s.idb.(bun.Tx); ok {
		return fn(tx) // already in a transaction: join it
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return fn(tx)
		})
		// PostgreSQL breaks a deadlock by failing one transaction; it has
		// changed nothing, so run it again (its locks are taken in the
		// order of its own statements, so the other side wins first).
		if attempt == maxTxAttempts || !retryable(err) {
			break
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
	if err != nil && portal.KindOf(err) == portal.KindInternal {
		return translate(err)
	}
	return err
}

const maxTxAttempts = 3

// retryable reports a transaction that failed only because of others
// running at the same time: deadlock_detected or serialization_failure.
func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// translate maps driver errors to domain errors, keeping the cause.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var de *portal.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return portal.ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "23505":
			return errors.Join(conflict(pg.ConstraintName), err)
		case strings.HasPrefix(pg.Code, "08"), pg.Code == "57P01", pg.Code == "57P02", pg.Code == "57P03":
			return errors.Join(portal.ErrUnavailable, err)
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errors.Join(conflict(se.Error()), err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return errors.Join(portal.ErrUnavailable, err)
		}
		return err
	}
	if lostConnection(err) {
		return errors.Join(portal.ErrUnavailable, err)
	}
	return err
}

// lostConnection reports whether err means the database could not be
// reached or the connection broke mid-statement (a restart, a failover, a
// cut network), as opposed to a statement the database refused.
func lostConnection(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

func conflict(constraint string) *portal.Error {
	if strings.Contains(constraint, "email") {
		return &portal.Error{Kind: portal.KindConflict, Field: "email", Message: "this email address is already in use"}
	}
	return &portal.Error{Kind: portal.KindConflict, Message: "this record already exists"}
}
