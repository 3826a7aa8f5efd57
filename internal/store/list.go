package store

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// orderColumn is the sort column of each order; the id breaks ties. Each
// pair (org_id, column, id) has a partial index, so a page of any order at
// any depth is an index range scan.
var orderColumn = map[portal.OrderField]string{
	portal.OrderName:       "name_key",
	portal.OrderEmail:      "email",
	portal.OrderRole:       "role_order",
	portal.OrderLastActive: "last_active_at",
	portal.OrderCreated:    "created_at",
}

func (s *DB) filtered(q *bun.SelectQuery, orgID string, f portal.UserFilter) *bun.SelectQuery {
	q = q.Where("org_id = ? AND removed_at IS NULL", orgID)
	if f.Search != "" {
		pattern := "%" + escapeLike(strings.ToLower(f.Search)) + "%"
		q = q.Where(`(name_key LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\')`, pattern, pattern)
	}
	if len(f.Roles) > 0 {
		roles := make([]string, len(f.Roles))
		for i, r := range f.Roles {
			roles[i] = string(r)
		}
		q = q.Where("role IN (?)", bun.In(roles))
	}
	if f.Status != nil {
		q = q.Where("status = ?", string(*f.Status))
	}
	return q
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (s *DB) ListUsers(ctx context.Context, orgID string, lq portal.ListQuery) ([]*portal.User, []portal.Cursor, error) {
	if err := lq.Check(); err != nil {
		return nil, nil, err
	}
	col, ok := orderColumn[lq.Order.Field]
	if !ok {
		col = "name_key"
	}
	dir := "ASC"
	if lq.Order.Desc {
		dir = "DESC"
	}
	order := col + " " + dir
	if col == "last_active_at" {
		// NULL (never active) is the smallest value, as in SQLite.
		if lq.Order.Desc {
			order += " NULLS LAST"
		} else {
			order += " NULLS FIRST"
		}
	}
	// The rows after the cursor, as one or two index ranges read in turn.
	ranges := []*cond{nil}
	if c := lq.After; c != nil {
		if !validID(c.ID) {
			return nil, nil, errInvalidCursor
		}
		v, err := cursorValue(c)
		if err != nil {
			return nil, nil, err
		}
		ranges = keyset(col, lq.Order.Desc, v, c.ID)
	}
	var rows []userRow
	for _, r := range ranges {
		var more []userRow
		q := s.filtered(s.idb.NewSelect().Model(&more), orgID, lq.Filter)
		if r != nil {
			q = q.Where(r.expr, r.args...)
		}
		q = q.OrderExpr(order).OrderExpr("id " + dir)
		if lq.Limit > 0 {
			q = q.Limit(int64(lq.Limit - len(rows)))
		}
		if err := q.Scan(ctx); err != nil {
			return nil, nil, translate(err)
		}
		rows = append(rows, more...)
		if lq.Limit > 0 && len(rows) >= lq.Limit {
			break
		}
	}
	users := make([]*portal.User, len(rows))
	cursors := make([]portal.Cursor, len(rows))
	for i := range rows {
		users[i], cursors[i] = rows[i].user(), rows[i].cursor(lq.Order)
	}
	return users, cursors, nil
}

var errInvalidCursor = portal.Invalid("after", "invalid cursor")

// cursor is the position of r in order o: the value of the order's sort
// column as stored (the name's name_key, the role's role_order), which
// cursorValue reads back, and the id.
func (r *userRow) cursor(o portal.UserOrder) portal.Cursor {
	c := portal.Cursor{Field: o.Field, Desc: o.Desc, ID: r.ID}
	var v string
	switch o.Field {
	case portal.OrderEmail:
		v = r.Email
	case portal.OrderRole:
		v = strconv.Itoa(r.RoleOrder)
	case portal.OrderLastActive:
		if r.LastActiveAt == nil {
			return c
		}
		v = r.LastActiveAt.UTC().Format(time.RFC3339Nano)
	case portal.OrderCreated:
		v = r.CreatedAt.UTC().Format(time.RFC3339Nano)
	default:
		v = r.NameKey
	}
	c.Value = &v
	return c
}

// validText reports whether s can be sent as a text value: UTF-8 without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// cursorValue turns a cursor's value back into the column's type.
func cursorValue(c *portal.Cursor) (any, error) {
	if c.Value == nil {
		if c.Field != portal.OrderLastActive {
			return nil, errInvalidCursor
		}
		return nil, nil
	}
	switch c.Field {
	case portal.OrderLastActive, portal.OrderCreated:
		t, err := time.Parse(time.RFC3339Nano, *c.Value)
		if err != nil || t.UTC().Year() < 1 || t.UTC().Year() > 9999 {
			return nil, errInvalidCursor
		}
		return t.UTC(), nil
	case portal.OrderRole:
		n, err := strconv.Atoi(*c.Value)
		if err != nil || n < 0 || n > len(access.Roles) {
			return nil, errInvalidCursor
		}
		return n, nil
	}
	if !validText(*c.Value) {
		return nil, errInvalidCursor
	}
	return *c.Value, nil
}

type cond struct {
	expr string
	args []any
}

// keyset returns the rows after (v, id) in the order (col dir, id dir),
// where NULL sorts lowest, as conditions whose rows follow one another in
// that order. Each is one range of the order's index; last_active_at needs
// two when the rest spans NULLs and values, since no one condition both
// keeps to the index and reaches across the NULLs.
func keyset(col string, desc bool, v any, id string) []*cond {
	c := bun.Ident(col)
	switch {
	case v == nil && !desc: // after a NULL ascending: later NULLs, then every value
		return []*cond{{"(? IS NULL AND id > ?)", []any{c, id}}, {"? IS NOT NULL", []any{c}}}
	case v == nil && desc: // after a NULL descending: only later NULLs
		return []*cond{{"(? IS NULL AND id < ?)", []any{c, id}}}
	case !desc:
		return []*cond{{"((?, id) > (?, ?))", []any{c, v, id}}}
	case col == "last_active_at": // descending: smaller values, then the NULLs
		return []*cond{{"((?, id) < (?, ?))", []any{c, v, id}}, {"? IS NULL", []any{c}}}
	default:
		return []*cond{{"((?, id) < (?, ?))", []any{c, v, id}}}
	}
}

func (s *DB) CountUsers(ctx context.Context, orgID string, f portal.UserFilter) (int, error) {
	if err := f.Check(); err != nil {
		return 0, err
	}
	n, err := s.filtered(s.idb.NewSelect().Model((*userRow)(nil)), orgID, f).Count(ctx)
	return int(n), translate(err)
}
