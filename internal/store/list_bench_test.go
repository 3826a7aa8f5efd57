package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

const (
	bigOrgUsers   = 100_000
	smallOrgUsers = 2_000
	deepRow       = 90_000 // the deep page starts after this row
	pageSize      = 50
)

// seedBig returns a PostgreSQL store with bigOrgUsers users in one
// organisation (and a small second organisation whose rows share the
// table), vacuumed and analysed. Names collide often (4 hex digits, in
// either case), created_at comes in runs of three, one user in twenty was
// never active and last_active_at values repeat.
func seedBig(tb testing.TB) (*store.DB, string) {
	tb.Helper()
	ctx := context.Background()
	db := storetest.Postgres(tb, storetest.Box(tb))
	start := time.Now()
	big, small := uuid.NewString(), uuid.NewString()
	if _, err := db.Bun().ExecContext(ctx, "INSERT INTO organizations (id, name, created_at) VALUES (?, 'Big', now()), (?, 'Small', now())", big, small); err != nil {
		tb.Fatal(err)
	}
	roles := make([]string, len(access.Roles))
	for i, r := range access.Roles {
		roles[i] = string(r)
	}
	// Only the NOT NULL columns without defaults; every other column keeps
	// its default, so new nullable columns don't break the seed.
	const insert = `INSERT INTO users (id, org_id, email, name, name_key, role, role_order, status, created_at, last_active_at)
SELECT gen_random_uuid()::text, ?, ? || g || '@big.test', n, lower(n),
       (?::text[])[1 + g % ?], g % ?,
       CASE WHEN g % 3 = 0 THEN 'INVITED' ELSE 'ACTIVE' END,
       timestamptz '2026-01-01 00:00:00+00' + (g / 3) * interval '1 second',
       CASE WHEN g % 20 = 0 THEN NULL
            ELSE timestamptz '2026-06-01 00:00:00+00' + ((g * 7919) % 50000) * interval '1 second' END
FROM (SELECT g, CASE WHEN g % 2 = 0 THEN upper(substr(md5(g::text), 1, 4)) ELSE substr(md5(g::text), 1, 4) END || ' user' AS n
      FROM generate_series(1, ?) AS g) AS s`
	arr := "{" + strings.Join(roles, ",") + "}"
	if _, err := db.Bun().ExecContext(ctx, insert, big, "big", arr, len(roles), len(roles), bigOrgUsers); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Bun().ExecContext(ctx, insert, small, "small", arr, len(roles), len(roles), smallOrgUsers); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Bun().ExecContext(ctx, "VACUUM ANALYZE users"); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("seeded %d users in %v", bigOrgUsers+smallOrgUsers, time.Since(start).Round(time.Millisecond))
	return db, big
}

// atRow returns the cursor of the row-th row (1-based) of org in order o,
// read once with OFFSET. The ORDER BY spells out the documented order.
func atRow(tb testing.TB, db *store.DB, orgID string, o portal.UserOrder, row int) *portal.Cursor {
	tb.Helper()
	ctx := context.Background()
	col := map[portal.OrderField]string{
		portal.OrderName: "name_key", portal.OrderEmail: "email", portal.OrderRole: "role_order",
		portal.OrderLastActive: "last_active_at", portal.OrderCreated: "created_at",
	}[o.Field]
	dir, nulls := "ASC", " NULLS FIRST"
	if o.Desc {
		dir, nulls = "DESC", " NULLS LAST"
	}
	var id string
	q := fmt.Sprintf("SELECT id FROM users WHERE org_id = ? AND removed_at IS NULL ORDER BY %s %s%s, id %s OFFSET ? LIMIT 1", col, dir, nulls, dir)
	if err := db.Bun().QueryRowContext(ctx, q, orgID, row-1).Scan(&id); err != nil {
		tb.Fatal(err)
	}
	u, err := db.User(ctx, orgID, id)
	if err != nil {
		tb.Fatal(err)
	}
	c := store.CursorOf(u, o)
	return &c
}

func orderName(o portal.UserOrder) string {
	if o.Desc {
		return string(o.Field) + "_DESC"
	}
	return string(o.Field)
}

// captureHook records the SQL of the queries run while it is on.
type captureHook struct {
	mu      sync.Mutex
	on      bool
	queries []string
}

func (h *captureHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h *captureHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.on {
		h.queries = append(h.queries, e.Query)
	}
}

// listSQL runs ListUsers and returns the SQL it sent.
func (h *captureHook) listSQL(t *testing.T, db *store.DB, orgID string, q portal.ListQuery) ([]*portal.User, []string) {
	t.Helper()
	h.mu.Lock()
	h.on, h.queries = true, nil
	h.mu.Unlock()
	users, _, err := db.ListUsers(context.Background(), orgID, q)
	h.mu.Lock()
	h.on = false
	qs := h.queries
	h.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) == 0 {
		t.Fatal("ListUsers ran no query")
	}
	return users, qs
}

type planNode struct {
	NodeType      string     `json:"Node Type"`
	RelationName  string     `json:"Relation Name"`
	IndexName     string     `json:"Index Name"`
	IndexCond     string     `json:"Index Cond"`
	Filter        string     `json:"Filter"`
	ScanDirection string     `json:"Scan Direction"`
	ActualRows    float64    `json:"Actual Rows"`
	SharedHit     float64    `json:"Shared Hit Blocks"`
	SharedRead    float64    `json:"Shared Read Blocks"`
	RemovedByFilt float64    `json:"Rows Removed by Filter"`
	Plans         []planNode `json:"Plans"`
}

func (n *planNode) walk(fn func(*planNode)) {
	fn(n)
	for i := range n.Plans {
		n.Plans[i].walk(fn)
	}
}

func explain(t *testing.T, db *store.DB, query string) planNode {
	t.Helper()
	var out []byte
	if err := db.Bun().QueryRowContext(context.Background(), "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+query).Scan(&out); err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("plan %s: %v", out, err)
	}
	return plans[0].Plan
}

func explainText(t *testing.T, db *store.DB, query string) string {
	t.Helper()
	rows, err := db.Bun().QueryContext(context.Background(), "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

var indexOf = map[portal.OrderField]string{
	portal.OrderName: "users_org_name", portal.OrderEmail: "users_org_email", portal.OrderRole: "users_org_role",
	portal.OrderLastActive: "users_org_last_active", portal.OrderCreated: "users_org_created",
}

// TestListUsesIndexAt100k checks on PostgreSQL that a page of every order,
// first or deep, is read from that order's index: an index scan that stops
// after the page (no Sort, no Seq Scan on users, no rows read and thrown
// away by a filter).
func TestListUsesIndexAt100k(t *testing.T) {
	t.Parallel()
	db, org := seedBig(t)
	hook := &captureHook{}
	db.Bun().AddQueryHook(hook)
	for _, field := range listOrders {
		for _, desc := range []bool{false, true} {
			o := portal.UserOrder{Field: field, Desc: desc}
			pages := []struct {
				name  string
				after *portal.Cursor
			}{
				{"first", nil},
				{"deep", atRow(t, db, org, o, deepRow)},
			}
			if field == portal.OrderLastActive {
				// One user in twenty was never active: rows 1-5000 ascending
				// and the last 5000 descending have a NULL last_active_at.
				row := 4_000
				if desc {
					row = 96_000
				}
				pages = append(pages, struct {
					name  string
					after *portal.Cursor
				}{"null", atRow(t, db, org, o, row)})
				// The page that crosses from values to NULLs (descending)
				// or from NULLs to values (ascending).
				row = 5_000 - pageSize/2
				if desc {
					row = 95_000 - pageSize/2
				}
				pages = append(pages, struct {
					name  string
					after *portal.Cursor
				}{"boundary", atRow(t, db, org, o, row)})
			}
			for _, p := range pages {
				t.Run(orderName(o)+"/"+p.name, func(t *testing.T) {
					q := portal.ListQuery{Order: o, After: p.after, Limit: pageSize}
					users, queries := hook.listSQL(t, db, org, q)
					if len(users) != pageSize {
						t.Fatalf("%d users, want %d", len(users), pageSize)
					}
					for _, sql := range queries {
						plan := explain(t, db, sql)
						var index *planNode
						plan.walk(func(n *planNode) {
							switch {
							case strings.Contains(n.NodeType, "Sort"):
								t.Errorf("plan sorts (%s)", n.NodeType)
							case n.NodeType == "Seq Scan" && n.RelationName == "users":
								t.Errorf("plan reads all of users (Seq Scan)")
							case n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan":
								switch {
								case n.IndexName == indexOf[field]:
									index = n
								case n.IndexName == "users_email_live":
									// It holds every organisation's emails in
									// order, so the page reads and drops the rows
									// of other organisations in its range. Unless
									// it indexes lower(email) (and UserByEmail
									// asks for lower(email)), it competes with
									// users_org_email for ORDER BY email.
									t.Errorf("plan uses %s %s, which orders every organisation's emails, want %s", n.NodeType, n.IndexName, indexOf[field])
								default:
									t.Errorf("plan uses %s %s, want %s", n.NodeType, n.IndexName, indexOf[field])
								}
							case strings.HasPrefix(n.NodeType, "Bitmap"):
								t.Errorf("plan uses a %s", n.NodeType)
							}
						})
						switch {
						case index == nil:
							t.Errorf("no index scan on %s", indexOf[field])
						case index.ActualRows > pageSize || index.RemovedByFilt > 0:
							t.Errorf("index scan read %v rows and filtered out %v for a page of %d (Index Cond %s, Filter %s)",
								index.ActualRows, index.RemovedByFilt, pageSize, index.IndexCond, index.Filter)
						}
						// About one heap page per row and a few index pages,
						// however deep the page.
						if b := plan.SharedHit + plan.SharedRead; b > 3*pageSize {
							t.Errorf("the page read %v buffers", b)
						}
						if t.Failed() || (field == portal.OrderName && !desc && p.name == "deep") {
							t.Logf("SQL: %s\nplan:\n%s", sql, explainText(t, db, sql))
						}
					}
				})
			}
		}
	}
	t.Run("count", func(t *testing.T) {
		hook.mu.Lock()
		hook.on, hook.queries = true, nil
		hook.mu.Unlock()
		n, err := db.CountUsers(context.Background(), org, portal.UserFilter{})
		hook.mu.Lock()
		hook.on = false
		hook.mu.Unlock()
		if err != nil || n != bigOrgUsers {
			t.Fatalf("CountUsers = %d, %v", n, err)
		}
		t.Logf("count plan:\n%s", explainText(t, db, hook.queries[0]))
	})
}

var benchOrders = []portal.UserOrder{{Field: portal.OrderName}, {Field: portal.OrderLastActive, Desc: true}}

func benchPage(b *testing.B, db *store.DB, orgID string, q portal.ListQuery) {
	users, _, err := db.ListUsers(context.Background(), orgID, q)
	if err != nil || len(users) != q.Limit {
		b.Fatalf("ListUsers: %d users, %v", len(users), err)
	}
}

func BenchmarkListFirstPage(b *testing.B) {
	db, org := seedBig(b)
	for _, o := range benchOrders {
		b.Run(orderName(o), func(b *testing.B) {
			q := portal.ListQuery{Order: o, Limit: pageSize}
			for b.Loop() {
				benchPage(b, db, org, q)
			}
		})
	}
}

// BenchmarkListDeepPage reads the page after row 90,000. It also reports
// deep/first: the time of a deep page over that of a first page, measured
// after the timed loop with the two interleaved so that both see the same
// caches and load.
func BenchmarkListDeepPage(b *testing.B) {
	db, org := seedBig(b)
	for _, o := range benchOrders {
		deep := portal.ListQuery{Order: o, After: atRow(b, db, org, o, deepRow), Limit: pageSize}
		first := portal.ListQuery{Order: o, Limit: pageSize}
		b.Run(orderName(o), func(b *testing.B) {
			n := 0
			for b.Loop() {
				benchPage(b, db, org, deep)
				n++
			}
			var deepT, firstT time.Duration
			for range max(n, 100) {
				start := time.Now()
				benchPage(b, db, org, deep)
				mid := time.Now()
				benchPage(b, db, org, first)
				deepT, firstT = deepT+mid.Sub(start), firstT+time.Since(mid)
			}
			b.ReportMetric(float64(firstT.Nanoseconds())/float64(max(n, 100)), "first-ns/op")
			b.ReportMetric(float64(deepT)/float64(firstT), "deep/first")
		})
	}
}
