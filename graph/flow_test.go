package graph_test

import (
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
)

// TestSignInFlow walks the foundation's whole flow through HTTP on both
// backends: create-organization, accept, login, enrol with a real TOTP
// code, me, roles, logout.
func TestSignInFlow(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		token, id := e.CreateOrganization("Acme", "ann@example.com")
		var me struct {
			Me struct {
				ID, Email, Role, Status string
				TwoFactorEnabled        bool
			}
			Roles []struct{ Role string }
		}
		e.MustPost(token, `{ me { id email role status twoFactorEnabled } roles { role } }`, nil, &me)
		if me.Me.ID != id || me.Me.Email != "ann@example.com" || me.Me.Role != "SUPER_ADMIN" || me.Me.Status != "ACTIVE" || !me.Me.TwoFactorEnabled {
			t.Fatalf("me = %+v", me.Me)
		}
		if len(me.Roles) != 5 {
			t.Fatalf("roles = %+v", me.Roles)
		}
		var out struct{ Logout bool }
		e.MustPost(token, `mutation { logout }`, nil, &out)
		if !out.Logout {
			t.Fatal("logout returned false")
		}
		if r := e.Post(token, `{ me { id } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("me after logout: %+v", r.Errors)
		}
	})
}
