package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// orgState is everything of organisation org that another tenant's
// requests must leave alone: its users' rows, its audit trail, and the
// outbox and tokens overall.
func orgState(t *testing.T, e *graphtest.Env, org string) string {
	t.Helper()
	var rows []mxUserRow
	if err := e.DB.Bun().NewSelect().Model(&rows).Where("org_id = ?", org).OrderExpr("id").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.String() + "\n")
	}
	fmt.Fprintf(&b, "audit=%d outbox=%d tokens=%d used=%d", mxCount(t, e, "audit_log", "org_id = ?", org),
		mxCount(t, e, "outbox", ""), mxCount(t, e, "tokens", ""), mxCount(t, e, "tokens", "used_at IS NOT NULL"))
	return b.String()
}

// TestOrganizationsIsolated: an organisation's admins can neither see nor
// touch another organisation's users: every mutation is NOT_FOUND (never
// FORBIDDEN, which would confirm the id), user(id) is null, lists and the
// audit log never show them, and nothing in the other organisation changes.
func TestOrganizationsIsolated(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		saA, saAID := e.CreateOrganization("Acme", "sa@acme.test")
		orgA := e.OrgOf(saAID)
		adminAID := e.SeedUser(&portal.User{OrgID: orgA, Email: "admin@acme.test", Name: "Admin Acme", Role: access.Admin})
		adminA := e.SignIn("admin@acme.test", graphtest.Password)
		aUsers := []string{saAID, adminAID}
		for _, r := range []access.Role{access.Creator, access.Viewer} {
			aUsers = append(aUsers, e.SeedUser(&portal.User{OrgID: orgA, Email: "a-" + strings.ToLower(string(r)) + "@acme.test", Name: "Acme " + string(r), Role: r}))
		}

		saB, saBID := e.CreateOrganization("Beta", "sb@beta.test")
		orgB := e.OrgOf(saBID)
		targets := map[string]string{"SUPER_ADMIN (2FA)": saBID}
		for _, r := range []access.Role{access.Admin, access.Creator, access.Viewer, access.EcommerceViewer} {
			targets[string(r)] = e.SeedUser(&portal.User{OrgID: orgB, Email: "b-" + strings.ToLower(string(r)) + "@beta.test", Name: "Beta " + string(r), Role: r})
		}
		targets["VIEWER (2FA)"], _ = e.NewUser(saB, "b-2fa@beta.test", "Beta Enrolled", "VIEWER")
		targets["CREATOR (INVITED)"] = e.Invite(saB, "b-invited@beta.test", "Beta Invited", "CREATOR")
		bIDs := map[string]bool{}
		for _, id := range targets {
			bIDs[id] = true
		}
		// A forged row: an Acme user whose inviter is in Beta.
		inviterB := targets["ADMIN"]
		crossID := e.SeedUser(&portal.User{OrgID: orgA, Email: "cross@acme.test", Name: "Cross", Role: access.Viewer, InvitedByID: &inviterB})
		aUsers = append(aUsers, crossID)

		before := orgState(t, e, orgB)
		if mxCount(t, e, "audit_log", "org_id = ?", orgB) == 0 {
			t.Fatal("Beta has no audit entries; the audit check would prove nothing")
		}
		for actor, token := range map[string]string{"Acme SUPER_ADMIN": saA, "Acme ADMIN": adminA} {
			for what, id := range targets {
				for _, c := range []struct{ action, role string }{
					{"changeRole", "VIEWER"}, {"changeRole", "CREATOR"}, {"changeRole", "ADMIN"},
					{"resendInvitation", ""}, {"sendPasswordReset", ""}, {"resetTwoFactor", ""}, {"removeUser", ""},
				} {
					name := fmt.Sprintf("%s %s %s on Beta %s", actor, c.action, c.role, what)
					b := mxSnapshot(t, e, id)
					r := mxDo(e, token, c.action, id, c.role)
					mxExpectRefused(t, e, name, r, "NOT_FOUND", "", b, mxSnapshot(t, e, id))
				}
				var out struct {
					User *struct{ ID string }
				}
				e.MustPost(token, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": id}, &out)
				if out.User != nil {
					t.Errorf("%s: user(id) of Beta %s = %+v", actor, what, out.User)
				}
			}

			// Lists: every page, and searches aimed at Beta.
			listed := usWalk(t, e, token, 3, nil, nil)
			usSameSet(t, actor+" lists", listed, aUsers)
			for _, s := range []string{"beta", "b-", "@beta.test", "Beta Admin"} {
				p := usMustList(t, e, token, 50, nil, map[string]any{"search": s}, nil)
				if len(p.Nodes) != 0 || p.TotalCount != 0 {
					t.Errorf("%s: search %q found %d (totalCount %d)", actor, s, len(p.Nodes), p.TotalCount)
				}
			}
			if p := usMustList(t, e, token, 1, nil, nil, nil); p.TotalCount != len(aUsers) {
				t.Errorf("%s: totalCount %d, want %d", actor, p.TotalCount, len(aUsers))
			}
			for _, n := range listed {
				if n.ID == crossID && n.InvitedBy != nil {
					t.Errorf("%s: invitedBy crosses to Beta: %+v", actor, n.InvitedBy)
				}
			}
		}

		// The audit log shows Acme's entries only, all of them.
		for actor, token := range map[string]string{"Acme SUPER_ADMIN": saA, "Acme ADMIN": adminA} {
			var out struct {
				AuditLog struct {
					Nodes []struct {
						ID                string
						ActorID, TargetID *string
						Actor, Target     *struct{ ID string }
					}
				}
			}
			e.MustPost(token, `{ auditLog(first: 100) { nodes { id actorId targetId actor { id } target { id } } } }`, nil, &out)
			if want := mxCount(t, e, "audit_log", "org_id = ?", orgA); len(out.AuditLog.Nodes) != want {
				t.Errorf("%s: %d audit entries, Acme has %d", actor, len(out.AuditLog.Nodes), want)
			}
			for _, n := range out.AuditLog.Nodes {
				if (n.ActorID != nil && bIDs[*n.ActorID]) || (n.TargetID != nil && bIDs[*n.TargetID]) {
					t.Errorf("%s: audit entry about Beta: %+v", actor, n)
				}
			}
		}

		if after := orgState(t, e, orgB); after != before {
			t.Errorf("Beta changed:\nbefore %s\nafter  %s", before, after)
		}
		// Beta itself is intact: its Super Admin's session works, and the
		// original invitation link (never resent) still does.
		if r := e.Post(saB, `{ me { id } }`, nil); len(r.Errors) > 0 {
			t.Errorf("Beta's Super Admin lost the session: %+v", r.Errors)
		}
		e.Accept("b-invited@beta.test")
		if r := mxRow(t, e, targets["CREATOR (INVITED)"]); r.Status != "ACTIVE" {
			t.Errorf("Beta's invitation: %s", r)
		}
	})
}
