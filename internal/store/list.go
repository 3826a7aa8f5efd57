package store

import (
	"context"
	"strconv"
	"strings"
	"time"

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

func (s *DB) ListUsers(ctx context.Context, orgID string, lq portal.ListQuery) ([]*portal.User, error) {
	col, ok := orderColumn[lq.Order.Field]
	if !ok {
		col, lq.Order.Field = "name_key", portal.OrderName
	}
	var rows []userRow
	q := s.filtered(s.idb.NewSelect().Model(&rows), orgID, lq.Filter)
	if c := lq.After; c != nil {
		v, err := cursorValue(c)
		if err != nil {
			return nil, err
		}
		q = keyset(q, col, lq.Order.Desc, v, c.ID)
	}
	dir := "ASC"
	if lq.Order.Desc {
		dir = "DESC"
	}
	if col == "last_active_at" {
		// NULL (never active) is the smallest value, as in SQLite.
		nulls := " NULLS FIRST"
		if lq.Order.Desc {
			nulls = " NULLS LAST"
		}
		q = q.OrderExpr("last_active_at " + dir + nulls)
	} else {
		q = q.OrderExpr(col + " " + dir)
	}
	q = q.OrderExpr("id " + dir).Limit(int64(lq.Limit))
	if err := q.Scan(ctx); err != nil {
		return nil, translate(err)
	}
	out := make([]*portal.User, len(rows))
	for i := range rows {
		out[i] = rows[i].user()
	}
	return out, nil
}

// cursorValue turns a cursor's value back into the column's type.
func cursorValue(c *portal.Cursor) (any, error) {
	if c.Value == nil {
		if c.Field != portal.OrderLastActive {
			return nil, portal.Invalid("after", "invalid cursor")
		}
		return nil, nil
	}
	switch c.Field {
	case portal.OrderLastActive, portal.OrderCreated:
		t, err := time.Parse(time.RFC3339Nano, *c.Value)
		if err != nil {
			return nil, portal.Invalid("after", "invalid cursor")
		}
		return t.UTC(), nil
	case portal.OrderRole:
		n, err := strconv.Atoi(*c.Value)
		if err != nil || n < 0 || n > len(access.Roles) {
			return nil, portal.Invalid("after", "invalid cursor")
		}
		return n, nil
	}
	return *c.Value, nil
}

// CursorOf returns the cursor of u in the given order.
func CursorOf(u *portal.User, o portal.UserOrder) portal.Cursor {
	c := portal.Cursor{Field: o.Field, Desc: o.Desc, ID: u.ID}
	var v string
	switch o.Field {
	case portal.OrderEmail:
		v = u.Email
	case portal.OrderRole:
		v = strconv.Itoa(roleOrder(u.Role))
	case portal.OrderLastActive:
		if u.LastActiveAt == nil {
			return c
		}
		v = u.LastActiveAt.UTC().Format(time.RFC3339Nano)
	case portal.OrderCreated:
		v = u.CreatedAt.UTC().Format(time.RFC3339Nano)
	default:
		v = strings.ToLower(u.Name)
	}
	c.Value = &v
	return c
}

// keyset restricts q to the rows after (v, id) in the order (col dir, id dir),
// where NULL sorts lowest.
func keyset(q *bun.SelectQuery, col string, desc bool, v any, id string) *bun.SelectQuery {
	c := bun.Ident(col)
	switch {
	case v == nil && !desc: // after a NULL ascending: later NULLs, then every value
		return q.Where("((? IS NULL AND id > ?) OR ? IS NOT NULL)", c, id, c)
	case v == nil && desc: // after a NULL descending: only later NULLs
		return q.Where("(? IS NULL AND id < ?)", c, id)
	case !desc:
		return q.Where("((?, id) > (?, ?))", c, v, id)
	case col == "last_active_at": // descending: smaller values, then the NULLs
		return q.Where("((?, id) < (?, ?) OR ? IS NULL)", c, v, id, c)
	default:
		return q.Where("((?, id) < (?, ?))", c, v, id)
	}
}

func (s *DB) CountUsers(ctx context.Context, orgID string, f portal.UserFilter) (int, error) {
	n, err := s.filtered(s.idb.NewSelect().Model((*userRow)(nil)), orgID, f).Count(ctx)
	return int(n), translate(err)
}
