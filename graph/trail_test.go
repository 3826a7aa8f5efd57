package graph_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
)

// trAllCounter counts every statement, and those that touch the audit log.
type trAllCounter struct{ all, audit atomic.Int64 }

func (h *trAllCounter) BeforeQuery(ctx context.Context, ev *bun.QueryEvent) context.Context {
	h.all.Add(1)
	if strings.Contains(strings.ToLower(ev.Query), "audit_log") {
		h.audit.Add(1)
	}
	return ctx
}

func (h *trAllCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// Recording the trail is off the hot path: successful ordinary requests
// (me, users, a user) run no statement on the audit log and add no entry,
// whereas a denied attempt writes one entry and a failed login of a known
// account one more. The statement count sees what goes through bun (all of
// SQLite; on PostgreSQL the hot-path statements run on pgx natively, so
// there the entries themselves are counted as well).
func TestTrailIsOffTheHotPath(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		admin, annID := secOrg(t, e, "ann@example.com")
		bobID := secSeed(t, e, annID, "bob@example.com", access.Viewer)
		viewer := e.SignIn("bob@example.com", graphtest.Password)
		entries := func() int64 {
			n, err := e.DB.Bun().NewSelect().Table("audit_log").Count(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := entries()
		h := &trAllCounter{}
		e.DB.Bun().AddQueryHook(h)
		for i := 0; i < 3; i++ {
			secOK(t, secPost(t, e, admin, `{ me { id name } }`, nil), nil)
			secOK(t, secPost(t, e, viewer, `{ users(first: 10) { nodes { id name email role } totalCount } }`, nil), nil)
			secOK(t, secPost(t, e, viewer, `query($id: ID!) { user(id: $id) { id name } }`, map[string]any{"id": bobID}), nil)
		}
		if h.all.Load() == 0 || h.audit.Load() != 0 {
			t.Fatalf("%d statements, %d on the audit log, for ordinary requests", h.all.Load(), h.audit.Load())
		}
		if n := entries() - before; n != 0 {
			t.Fatalf("ordinary requests added %d audit entries", n)
		}
		secWant(t, secPost(t, e, viewer, `mutation($id: ID!) { removeUser(input: {userId: $id}) { removedUserId } }`,
			map[string]any{"id": annID}), "FORBIDDEN")
		if n := entries() - before; n != 1 {
			t.Fatalf("a denial: %d audit entries, want 1", n)
		}
		secWant(t, secLogin(t, e, "bob@example.com", "a wrong password"), "UNAUTHENTICATED")
		e.Service.Flush()
		if n := entries() - before; n != 2 {
			t.Fatalf("a wrong password: %d audit entries in all, want 2", n)
		}
	})
}
