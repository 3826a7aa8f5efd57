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

// The user in the payload of acceptInvitation and verifyTwoFactor (whose
// requests have no full session yet) resolves its inviter like any other.
func TestPayloadUserResolvesInviter(t *testing.T) {
	e := graphtest.New(t, graphtest.SQLiteMemory)
	admin, _ := e.CreateOrganization("Acme", "ann@example.com")
	e.Invite(admin, "bob@example.com", "Bob", "VIEWER")
	var acc struct {
		AcceptInvitation struct {
			User struct{ InvitedBy *struct{ Name string } }
		}
	}
	e.MustPost("", `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { invitedBy { name } } } }`,
		map[string]any{"t": e.LinkToken("bob@example.com", "accept-invitation"), "p": graphtest.Password}, &acc)
	if acc.AcceptInvitation.User.InvitedBy == nil || acc.AcceptInvitation.User.InvitedBy.Name != "Super Acme" {
		t.Fatalf("acceptInvitation user.invitedBy = %+v", acc.AcceptInvitation.User.InvitedBy)
	}
	waiting := e.StartLogin("bob@example.com", graphtest.Password)
	var ver struct {
		VerifyTwoFactor struct {
			Step string
			User struct {
				InvitedBy *struct{ Name string }
				ViewerCan struct{ Remove bool }
			}
		}
	}
	e.MustPost(waiting.Token, `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step user { invitedBy { name } viewerCan { remove } } } }`,
		map[string]any{"c": e.Code("bob@example.com")}, &ver)
	if ver.VerifyTwoFactor.Step != "SIGNED_IN" || ver.VerifyTwoFactor.User.InvitedBy == nil || ver.VerifyTwoFactor.User.InvitedBy.Name != "Super Acme" {
		t.Fatalf("verifyTwoFactor = %+v", ver.VerifyTwoFactor)
	}
}
