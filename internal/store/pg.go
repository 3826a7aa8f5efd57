package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/portal"
)

// The hot path on PostgreSQL (signing a request in, a page of users, a
// role change) runs these statements with parameters rather than with
// values written into the SQL text as bun does, so that PostgreSQL plans
// each once per connection and one prepared statement serves every user.
// Outside a transaction they run on pgx natively (no database/sql row
// scanning); inside one, through the transaction with the same text.
// SQLite keeps bun's statements.

// DefaultMaxConns is the size of the PostgreSQL connection pool unless the
// database URL sets pool_max_conns.
const DefaultMaxConns = 20

// poolSize takes the pool_max_conns parameter (pgxpool's name for it) out
// of a PostgreSQL URL and returns the URL without it and the pool size.
func poolSize(rawURL string) (string, int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, err
	}
	q := u.Query()
	n := DefaultMaxConns
	if v := q.Get("pool_max_conns"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return "", 0, fmt.Errorf("pool_max_conns=%q: want a positive number", v)
		}
		q.Del("pool_max_conns")
		u.RawQuery = q.Encode()
	}
	return u.String(), n, nil
}

// openPostgres opens the pool: n connections at most, and every idle
// connection kept (idle = open), so that a burst never closes connections
// only to open new ones a moment later (each costs a PostgreSQL backend
// start and loses its prepared statements).
func openPostgres(rawURL string) (*sql.DB, error) {
	dsn, n, err := poolSize(rawURL)
	if err != nil {
		return nil, err
	}
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)
	sqldb.SetConnMaxIdleTime(0)
	return sqldb, nil
}

// UserColumns are the users table's columns in the order scanUser reads.
const UserColumns = "id, org_id, email, name, name_key, role, role_order, status, password_hash, totp_secret, " +
	"two_factor_enabled, totp_last_step, totp_failures, totp_failures_since, invited_by_id, created_at, " +
	"last_active_at, invitation_sent_at, sessions_not_before, removed_at"

// Hot-path statements on PostgreSQL.
const (
	SQLUser         = "SELECT " + UserColumns + " FROM users WHERE removed_at IS NULL AND id = $1 AND org_id = $2"
	SQLLockUser     = SQLUser + " FOR UPDATE"
	SQLUserByEmail  = "SELECT " + UserColumns + " FROM users WHERE removed_at IS NULL AND lower(email) = $1"
	SQLUsersByID    = "SELECT " + UserColumns + " FROM users WHERE removed_at IS NULL AND org_id = $1 AND id = ANY($2)"
	SQLTouchActive  = "UPDATE users SET last_active_at = $1 WHERE id = $2 AND removed_at IS NULL AND (last_active_at IS NULL OR last_active_at <= $3)"
	SQLSetRole      = "UPDATE users SET role = $1, role_order = $2 WHERE id = $3 AND removed_at IS NULL"
	SQLAddAudit     = "INSERT INTO audit_log (id, org_id, actor_id, actor_name, actor_email, action, target_id, target_name, target_email, before_role, after_role, reason, client_ip, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
	SQLDeliveryFail = `SELECT user_id, status, sent_at FROM (
		SELECT user_id, status, sent_at, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY created_at DESC, id DESC) AS n
		FROM outbox WHERE kind = $1 AND user_id = ANY($2)) latest WHERE n = 1`
)

// scanUser reads a row of UserColumns. Nullable columns are scanned into
// pgtype values, which pgx plans without allocating (pointers to pointers
// cost a plan per query).
func scanUser(scan func(dest ...any) error) (*userRow, error) {
	var x struct { // one allocation for the row and its nullable columns
		r                                     userRow
		since, created, la, sent, nb, removed pgtype.Timestamptz
		invitedBy                             pgtype.Text
	}
	r := &x.r
	err := scan(&r.ID, &r.OrgID, &r.Email, &r.Name, &r.NameKey, &r.Role, &r.RoleOrder, &r.Status, &r.PasswordHash,
		&r.TOTPSecret, &r.TwoFactorEnabled, &r.TOTPLastStep, &r.TOTPFailures, &x.since, &x.invitedBy,
		&x.created, &x.la, &x.sent, &x.nb, &x.removed)
	if err != nil {
		return nil, err
	}
	r.CreatedAt = x.created.Time
	r.TOTPFailuresSince, r.LastActiveAt, r.InvitationSentAt, r.SessionsNotBefore, r.RemovedAt =
		timePtr(&x.since), timePtr(&x.la), timePtr(&x.sent), timePtr(&x.nb), timePtr(&x.removed)
	if x.invitedBy.Valid {
		r.InvitedByID = &x.invitedBy.String
	}
	return r, nil
}

func timePtr(t *pgtype.Timestamptz) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// sqlTx is the transaction this copy is bound to, if any.
func (s *DB) sqlTx() (*sql.Tx, bool) {
	if tx, ok := s.idb.(bun.Tx); ok {
		return tx.Tx, true
	}
	return nil, false
}

// native runs fn on a pooled connection as pgx natively. Outside a
// transaction only.
func (s *DB) native(ctx context.Context, fn func(c *pgx.Conn) error) error {
	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	return translate(conn.Raw(func(dc any) error { return fn(dc.(*stdlib.Conn).Conn()) }))
}

// pgUser runs SQLUser (or SQLLockUser) with parameters.
func (s *DB) pgUser(ctx context.Context, stmt, orgID, id string) (*portal.User, error) {
	if tx, ok := s.sqlTx(); ok {
		r, err := scanUser(tx.QueryRowContext(ctx, stmt, id, orgID).Scan)
		if err != nil {
			return nil, translate(err)
		}
		return r.user(), nil
	}
	var r *userRow
	err := s.native(ctx, func(c *pgx.Conn) (err error) {
		r, err = scanUser(c.QueryRow(ctx, stmt, id, orgID).Scan)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.user(), nil
}

// pgQueryUsers runs a statement returning rows of UserColumns.
func (s *DB) pgQueryUsers(ctx context.Context, out []*portal.User, stmt string, args ...any) ([]*portal.User, error) {
	err := s.pgQueryRows(ctx, func(r *userRow) { out = append(out, r.user()) }, stmt, args...)
	return out, err
}

// pgQueryRows runs a statement returning rows of UserColumns, handing
// each to read.
func (s *DB) pgQueryRows(ctx context.Context, read func(*userRow), stmt string, args ...any) error {
	if tx, ok := s.sqlTx(); ok {
		rows, err := tx.QueryContext(ctx, stmt, args...)
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanUser(rows.Scan)
			if err != nil {
				return translate(err)
			}
			read(r)
		}
		return translate(rows.Err())
	}
	return s.native(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, stmt, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanUser(rows.Scan)
			if err != nil {
				return err
			}
			read(r)
		}
		return rows.Err()
	})
}

// pgExec runs a statement with parameters and returns the rows it affected.
func (s *DB) pgExec(ctx context.Context, stmt string, args ...any) (int64, error) {
	if tx, ok := s.sqlTx(); ok {
		res, err := tx.ExecContext(ctx, stmt, args...)
		if err != nil {
			return 0, translate(err)
		}
		n, err := res.RowsAffected()
		return n, translate(err)
	}
	var n int64
	err := s.native(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, stmt, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// Statement is one SQL statement with its parameters.
type Statement struct {
	SQL  string
	Args []any
}

// ListStatements are the statements of a page of users on PostgreSQL, run
// in turn until the page is full: one index range each (two when a page by
// last activity reaches across its NULLs). The LIMIT of a later statement
// is lowered by the rows the earlier ones found.
func ListStatements(orgID string, lq portal.ListQuery) ([]Statement, error) {
	if err := lq.Check(); err != nil {
		return nil, err
	}
	col, ok := orderColumn[lq.Order.Field]
	if !ok {
		col = "name_key"
	}
	dir := " ASC"
	if lq.Order.Desc {
		dir = " DESC"
	}
	order := col + dir
	if col == "last_active_at" {
		if lq.Order.Desc {
			order += " NULLS LAST"
		} else {
			order += " NULLS FIRST"
		}
	}
	var b strings.Builder
	args := []any{orgID}
	p := func(args *[]any, v any) string { *args = append(*args, v); return "$" + strconv.Itoa(len(*args)) }
	b.WriteString("SELECT " + UserColumns + " FROM users WHERE org_id = $1 AND removed_at IS NULL")
	f := lq.Filter
	if f.Search != "" {
		ph := p(&args, "%"+escapeLike(strings.ToLower(f.Search))+"%")
		b.WriteString(` AND (name_key LIKE ` + ph + ` ESCAPE '\' OR email LIKE ` + ph + ` ESCAPE '\')`)
	}
	if len(f.Roles) > 0 {
		roles := make([]string, len(f.Roles))
		for i, r := range f.Roles {
			roles[i] = string(r)
		}
		b.WriteString(" AND role = ANY(" + p(&args, roles) + ")")
	}
	if f.Status != nil {
		b.WriteString(" AND status = " + p(&args, string(*f.Status)))
	}
	base := b.String()
	tail := " ORDER BY " + order + ", id" + dir + " LIMIT "
	if lq.After == nil {
		return []Statement{{base + tail + p(&args, lq.Limit), args}}, nil
	}
	c := lq.After
	if !validID(c.ID) {
		return nil, errInvalidCursor
	}
	v, err := cursorValue(c)
	if err != nil {
		return nil, err
	}
	// As keyset in list.go: the rows after (v, id), one range at a time.
	one := func(cond func(a *[]any) string) Statement {
		a := append([]any(nil), args...)
		s := base + " AND " + cond(&a) + tail
		return Statement{s + p(&a, lq.Limit), a}
	}
	switch {
	case v == nil && !lq.Order.Desc:
		return []Statement{
			one(func(a *[]any) string { return "(" + col + " IS NULL AND id > " + p(a, c.ID) + ")" }),
			one(func(*[]any) string { return col + " IS NOT NULL" })}, nil
	case v == nil:
		return []Statement{one(func(a *[]any) string { return "(" + col + " IS NULL AND id < " + p(a, c.ID) + ")" })}, nil
	case !lq.Order.Desc:
		return []Statement{one(func(a *[]any) string {
			pv := p(a, v)
			return "((" + col + ", id) > (" + pv + ", " + p(a, c.ID) + "))"
		})}, nil
	case col == "last_active_at":
		return []Statement{one(func(a *[]any) string {
			pv := p(a, v)
			return "((" + col + ", id) < (" + pv + ", " + p(a, c.ID) + "))"
		}), one(func(*[]any) string { return col + " IS NULL" })}, nil
	default:
		return []Statement{one(func(a *[]any) string {
			pv := p(a, v)
			return "((" + col + ", id) < (" + pv + ", " + p(a, c.ID) + "))"
		})}, nil
	}
}

// pgListUsers runs ListStatements until the page is full.
func (s *DB) pgListUsers(ctx context.Context, orgID string, lq portal.ListQuery) ([]*portal.User, []portal.Cursor, error) {
	stmts, err := ListStatements(orgID, lq)
	if err != nil {
		return nil, nil, err
	}
	users := make([]*portal.User, 0, max(lq.Limit, 0))
	var cursors []portal.Cursor
	read := func(r *userRow) {
		users = append(users, r.user())
		cursors = append(cursors, r.cursor(lq.Order))
	}
	for _, st := range stmts {
		if lq.Limit > 0 {
			st.Args[len(st.Args)-1] = lq.Limit - len(users)
		} else {
			st.Args[len(st.Args)-1] = nil // LIMIT NULL: every row
		}
		if err := s.pgQueryRows(ctx, read, st.SQL, st.Args...); err != nil {
			return nil, nil, err
		}
		if lq.Limit > 0 && len(users) >= lq.Limit {
			break
		}
	}
	return users, cursors, nil
}

// pgDelivery runs SQLDeliveryFail.
func (s *DB) pgDelivery(ctx context.Context, userIDs []string) (map[string]DeliveryState, error) {
	out := make(map[string]DeliveryState, len(userIDs))
	read := func(scan func(...any) error) error {
		var id, status string
		var sent *time.Time
		if err := scan(&id, &status, &sent); err != nil {
			return err
		}
		out[id] = DeliveryState{SentAt: utcPtr(sent), Failed: status == OutboxFailed}
		return nil
	}
	if tx, ok := s.sqlTx(); ok {
		rows, err := tx.QueryContext(ctx, SQLDeliveryFail, string(portal.EmailInvitation), userIDs)
		if err != nil {
			return nil, translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := read(rows.Scan); err != nil {
				return nil, translate(err)
			}
		}
		return out, translate(rows.Err())
	}
	err := s.native(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, SQLDeliveryFail, string(portal.EmailInvitation), userIDs)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := read(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return out, err
}
