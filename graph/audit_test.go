package graph_test

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// auNode is an audit entry as the audit tests read it.
type auNode struct {
	ID, Action, CreatedAt string
	ActorID, TargetID     *string
	Actor, Target         *struct{ ID, Name string }
	BeforeRole, AfterRole *string
}

type auPage struct {
	Nodes    []auNode
	Edges    []struct{ Cursor string }
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
}

const auQuery = `query($first: Int, $after: String) { auditLog(first: $first, after: $after) {
	nodes { id action createdAt actorId targetId actor { id name } target { id name } beforeRole afterRole }
	edges { cursor }
	pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

func auList(t *testing.T, e *graphtest.Env, token string, first, after any) *graphtest.Response {
	t.Helper()
	return e.Post(token, auQuery, map[string]any{"first": first, "after": after})
}

func auMustList(t *testing.T, e *graphtest.Env, token string, first, after any) auPage {
	t.Helper()
	var out struct{ AuditLog auPage }
	auList(t, e, token, first, after).Decode(t, &out)
	return out.AuditLog
}

func auIDs(nodes []auNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// TestAuditLog: who may read the audit log, what each mutation records,
// the order and the paging.
func TestAuditLog(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		sa, saID := e.CreateOrganization("Acme", "sa@acme.test")
		org := e.OrgOf(saID)
		tokens := map[string]string{"SUPER_ADMIN": sa}
		ids := map[string]string{"SUPER_ADMIN": saID}
		for _, r := range []access.Role{access.Admin, access.Creator, access.Viewer, access.EcommerceViewer} {
			email := "reader-" + string(r) + "@acme.test"
			ids[string(r)] = e.SeedUser(&portal.User{OrgID: org, Email: email, Name: "Reader " + string(r), Role: r})
			tokens[string(r)] = e.SignIn(email, graphtest.Password)
		}
		admin := tokens["ADMIN"]

		t.Run("readable by Super Admins and Admins only", func(t *testing.T) {
			for role, token := range tokens {
				r := auList(t, e, token, 5, nil)
				switch role {
				case "SUPER_ADMIN", "ADMIN":
					if len(r.Errors) > 0 {
						t.Errorf("%s: %+v", role, r.Errors)
					}
				default:
					if r.Code() != "FORBIDDEN" || string(r.Data) != "null" {
						t.Errorf("%s: code %q data %s, want FORBIDDEN", role, r.Code(), r.Data)
					}
				}
			}
			if r := auList(t, e, "", 5, nil); r.Code() != "UNAUTHENTICATED" {
				t.Errorf("without a session: %q", r.Code())
			}
		})

		// One of each mutation on one user, a step of the clock apart.
		step := func() { e.Clock.Advance(10 * time.Second) }
		step()
		x := e.Invite(sa, "x@acme.test", "Xavier", "VIEWER")
		step()
		e.MustPost(sa, mxMutations["changeRole"], map[string]any{"id": x, "r": "CREATOR"}, &struct{}{})
		step()
		e.MustPost(sa, mxMutations["resendInvitation"], map[string]any{"id": x}, &struct{}{})
		step()
		e.Accept("x@acme.test")
		step()
		e.SignIn("x@acme.test", graphtest.Password)
		step()
		e.MustPost(admin, mxMutations["sendPasswordReset"], map[string]any{"id": x}, &struct{}{})
		step()
		e.MustPost(admin, mxMutations["resetTwoFactor"], map[string]any{"id": x}, &struct{}{})
		step()
		e.MustPost(admin, mxMutations["changeRole"], map[string]any{"id": x, "r": "VIEWER"}, &struct{}{})
		step()
		e.MustPost(sa, mxMutations["removeUser"], map[string]any{"id": x}, &struct{}{})

		// Newest first.
		want := []struct {
			action, actor string // actor: a role of ids, "X", or "" for none
			before, after string
			actorShown    bool // actor resolves (not removed)
		}{
			{"USER_REMOVED", "SUPER_ADMIN", "VIEWER", "", true},
			{"ROLE_CHANGED", "ADMIN", "CREATOR", "VIEWER", true},
			{"TWO_FACTOR_RESET", "ADMIN", "", "", true},
			{"PASSWORD_RESET_SENT", "ADMIN", "", "", true},
			{"TWO_FACTOR_ENROLLED", "X", "", "", false},
			{"INVITATION_ACCEPTED", "X", "", "", false},
			{"INVITATION_RESENT", "SUPER_ADMIN", "", "", true},
			{"ROLE_CHANGED", "SUPER_ADMIN", "VIEWER", "CREATOR", true},
			{"USER_CREATED", "SUPER_ADMIN", "", "VIEWER", true},
		}
		s := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}

		t.Run("an entry per mutation, newest first", func(t *testing.T) {
			p := auMustList(t, e, sa, len(want), nil)
			if len(p.Nodes) != len(want) || !p.PageInfo.HasNextPage {
				t.Fatalf("%d entries, hasNextPage %t", len(p.Nodes), p.PageInfo.HasNextPage)
			}
			var last time.Time
			for i, w := range want {
				n := p.Nodes[i]
				wantActor := x
				if w.actor != "X" {
					wantActor = ids[w.actor]
				}
				if n.Action != w.action || s(n.ActorID) != wantActor || s(n.TargetID) != x ||
					s(n.BeforeRole) != w.before || s(n.AfterRole) != w.after {
					t.Errorf("entry %d: %s actor %s target %s %s->%s; want %s by %s (%s) on %s %s->%s", i, n.Action, s(n.ActorID),
						s(n.TargetID), s(n.BeforeRole), s(n.AfterRole), w.action, w.actor, wantActor, x, w.before, w.after)
				}
				if w.actorShown != (n.Actor != nil) || (n.Actor != nil && n.Actor.ID != wantActor) {
					t.Errorf("entry %d (%s): actor %+v", i, n.Action, n.Actor)
				}
				// The user is removed: every entry keeps targetId, none resolves target.
				if n.Target != nil {
					t.Errorf("entry %d (%s): target %+v resolves after removal", i, n.Action, n.Target)
				}
				at, err := time.Parse(time.RFC3339Nano, n.CreatedAt)
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 && !at.Before(last) {
					t.Errorf("entry %d (%s) at %s is not older than the one before (%s)", i, n.Action, at, last)
				}
				last = at
			}
			if p.Nodes[0].Actor == nil || p.Nodes[0].Actor.Name != "Super Acme" {
				t.Errorf("the removal's actor: %+v", p.Nodes[0].Actor)
			}
		})

		t.Run("a living target resolves", func(t *testing.T) {
			y := e.Invite(admin, "y@acme.test", "Yolanda", "VIEWER")
			p := auMustList(t, e, admin, 1, nil)
			if n := p.Nodes[0]; n.Action != "USER_CREATED" || n.Target == nil || n.Target.ID != y || n.Target.Name != "Yolanda" ||
				n.Actor == nil || n.Actor.ID != ids["ADMIN"] {
				t.Errorf("newest entry %+v", n)
			}
		})

		t.Run("pages", func(t *testing.T) {
			all := auMustList(t, e, sa, 100, nil)
			if all.PageInfo.HasNextPage || all.PageInfo.HasPreviousPage {
				t.Errorf("one page of everything: %+v", all.PageInfo)
			}
			if n := mxCount(t, e, "audit_log", "org_id = ?", org); len(all.Nodes) != n {
				t.Fatalf("%d entries listed, %d stored", len(all.Nodes), n)
			}
			last := all.Nodes[len(all.Nodes)-1]
			if last.Action != "ORGANIZATION_CREATED" || last.ActorID != nil || last.Actor != nil {
				t.Errorf("the oldest entry: %+v", last)
			}
			var times []string
			for _, n := range all.Nodes {
				times = append(times, n.CreatedAt)
			}
			if !slices.IsSortedFunc(times, func(a, b string) int {
				ta, _ := time.Parse(time.RFC3339Nano, a)
				tb, _ := time.Parse(time.RFC3339Nano, b)
				return tb.Compare(ta)
			}) {
				t.Errorf("not newest first: %v", times)
			}
			for _, size := range []int{1, 2, 5} {
				var walked []auNode
				var after any
				for page := 0; ; page++ {
					p := auMustList(t, e, admin, size, after)
					if len(p.Nodes) > size || len(p.Edges) != len(p.Nodes) || p.PageInfo.HasPreviousPage != (page > 0) {
						t.Fatalf("size %d page %d: %d nodes, %d edges, %+v", size, page, len(p.Nodes), len(p.Edges), p.PageInfo)
					}
					walked = append(walked, p.Nodes...)
					if !p.PageInfo.HasNextPage {
						break
					}
					if *p.PageInfo.EndCursor != p.Edges[len(p.Edges)-1].Cursor {
						t.Fatalf("endCursor is not the last edge's cursor")
					}
					after = *p.PageInfo.EndCursor
				}
				if !slices.Equal(auIDs(walked), auIDs(all.Nodes)) {
					t.Errorf("pages of %d differ from one page: %d vs %d entries", size, len(walked), len(all.Nodes))
				}
			}
			for _, first := range []int{0, -1, 101} {
				if r := auList(t, e, sa, first, nil); r.Code() != "BAD_USER_INPUT" || r.Field() != "first" {
					t.Errorf("first %d: %q %q", first, r.Code(), r.Field())
				}
			}
			// after: "" is no cursor (TestEmptyAfterIsFirstPage).
			for _, after := range []string{"xyz", base64.RawURLEncoding.EncodeToString([]byte("short")), "!!!!"} {
				if r := auList(t, e, sa, 5, after); r.Code() != "BAD_USER_INPUT" {
					t.Errorf("after %q: %q %+v", after, r.Code(), r.Errors)
				}
			}
		})
	})
}
