package graph_test

import (
	"fmt"
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// rcEnv is an organisation with its Super Admin signed in.
type rcEnv struct {
	e       *graphtest.Env
	sa, org string
	n       int
}

func rcSetup(t *testing.T, e *graphtest.Env) *rcEnv {
	t.Helper()
	sa, saID := e.CreateOrganization("Acme", "sa@acme.test")
	return &rcEnv{e: e, sa: sa, org: e.OrgOf(saID)}
}

// user seeds an ACTIVE user of role and, when signIn is set, signs them in.
func (c *rcEnv) user(role string, signIn bool) (id, email, token string) {
	c.e.T.Helper()
	c.n++
	email = fmt.Sprintf("rc%02d@acme.test", c.n)
	id = c.e.SeedUser(&portal.User{OrgID: c.org, Email: email, Name: fmt.Sprintf("RC %d", c.n), Role: access.Role(role)})
	if signIn {
		token = c.e.SignIn(email, graphtest.Password)
	}
	return id, email, token
}

// changeRole changes a role as the Super Admin.
func (c *rcEnv) changeRole(t *testing.T, id, role string) {
	t.Helper()
	var out struct {
		ChangeRole struct{ User struct{ Role string } }
	}
	c.e.MustPost(c.sa, mxMutations["changeRole"], map[string]any{"id": id, "r": role}, &out)
	if out.ChangeRole.User.Role != role {
		t.Fatalf("changeRole answered %+v", out)
	}
}

// createUser tries to create a user as token and returns the code ("" on success).
func (c *rcEnv) createUser(token string) string {
	c.e.T.Helper()
	c.n++
	r := c.e.Post(token, `mutation($e: String!) { createUser(input: {email: $e, name: "Made", role: VIEWER}) { user { id } } }`,
		map[string]any{"e": fmt.Sprintf("made%02d@acme.test", c.n)})
	return r.Code()
}

// canChange is viewerCan.changeRole of token about id.
func (c *rcEnv) canChange(t *testing.T, token, id string) bool {
	t.Helper()
	var out struct {
		User struct{ ViewerCan struct{ ChangeRole bool } }
	}
	c.e.MustPost(token, `query($id: ID!) { user(id: $id) { viewerCan { changeRole } } }`, map[string]any{"id": id}, &out)
	return out.User.ViewerCan.ChangeRole
}

// TestRoleChangeNextLogin: by default a session keeps the role it was
// started with; the new role applies from the next login.
func TestRoleChangeNextLogin(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		c := rcSetup(t, e)
		adminID, adminEmail, old := c.user("ADMIN", true)
		creatorID, _, _ := c.user("CREATOR", false)
		c.changeRole(t, adminID, "VIEWER")

		if code := c.createUser(old); code != "" {
			t.Errorf("the demoted admin's current session: createUser %q, want success (it keeps ADMIN)", code)
		}
		if !c.canChange(t, old, creatorID) {
			t.Error("the demoted admin's current session: viewerCan.changeRole false about a creator")
		}
		var me struct{ Me struct{ Role string } }
		e.MustPost(old, `{ me { role } }`, nil, &me)
		if me.Me.Role != "VIEWER" {
			t.Errorf("me.role = %q: the stored role is VIEWER", me.Me.Role)
		}

		fresh := e.SignIn(adminEmail, graphtest.Password)
		if code := c.createUser(fresh); code != "FORBIDDEN" {
			t.Errorf("after logging in again: createUser %q, want FORBIDDEN", code)
		}
		if c.canChange(t, fresh, creatorID) {
			t.Error("after logging in again: viewerCan.changeRole true about a creator")
		}
		before := mxSnapshot(t, e, creatorID)
		r := mxDo(e, fresh, "changeRole", creatorID, "VIEWER")
		mxExpectRefused(t, e, "changeRole as the new VIEWER", r, "FORBIDDEN", "", before, mxSnapshot(t, e, creatorID))
	})
}

// TestRoleChangeImmediate: with PORTAL_ROLE_CHANGE=immediate a session
// acts with the lower of its login role and the user's current role.
func TestRoleChangeImmediate(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		c := rcSetup(t, e)
		adminID, _, admin := c.user("ADMIN", true)
		creatorID, creatorEmail, creator := c.user("CREATOR", true)
		viewerID, _, _ := c.user("VIEWER", false)

		t.Run("a demotion bites at once", func(t *testing.T) {
			if code := c.createUser(admin); code != "" {
				t.Fatalf("admin before the demotion: %q", code)
			}
			c.changeRole(t, adminID, "VIEWER")
			if code := c.createUser(admin); code != "FORBIDDEN" {
				t.Errorf("the demoted admin's session: createUser %q, want FORBIDDEN", code)
			}
			before := mxSnapshot(t, e, viewerID)
			r := mxDo(e, admin, "changeRole", viewerID, "CREATOR")
			mxExpectRefused(t, e, "the demoted admin's changeRole", r, "FORBIDDEN", "", before, mxSnapshot(t, e, viewerID))
			if c.canChange(t, admin, viewerID) {
				t.Error("the demoted admin's session: viewerCan.changeRole true")
			}
			// The session itself lives on, with what a VIEWER may do.
			var out struct{ Users struct{ TotalCount int } }
			e.MustPost(admin, `{ users { totalCount } }`, nil, &out)
			// Promoted back, the session has its login role again.
			c.changeRole(t, adminID, "ADMIN")
			if code := c.createUser(admin); code != "" {
				t.Errorf("restored admin: createUser %q", code)
			}
		})

		t.Run("a promotion does not raise a session above its login role", func(t *testing.T) {
			c.changeRole(t, creatorID, "ADMIN")
			if code := c.createUser(creator); code != "FORBIDDEN" {
				t.Errorf("the promoted creator's session: createUser %q, want FORBIDDEN", code)
			}
			before := mxSnapshot(t, e, viewerID)
			r := mxDo(e, creator, "changeRole", viewerID, "CREATOR")
			mxExpectRefused(t, e, "the promoted creator's changeRole", r, "FORBIDDEN", "", before, mxSnapshot(t, e, viewerID))
			if c.canChange(t, creator, viewerID) {
				t.Error("the promoted creator's session: viewerCan.changeRole true")
			}
			fresh := e.SignIn(creatorEmail, graphtest.Password)
			if code := c.createUser(fresh); code != "" {
				t.Errorf("the promoted creator after logging in again: createUser %q", code)
			}
		})
	}, func(cfg *portal.Config) { cfg.RoleChange = portal.RoleChangeImmediate })
}

// TestRemovalEndsSessions: removal ends every session of the user at once,
// in both role-change modes, whatever stage the session is at.
func TestRemovalEndsSessions(t *testing.T) {
	for _, mode := range []portal.RoleChangeMode{portal.RoleChangeNextLogin, portal.RoleChangeImmediate} {
		t.Run(string(mode), func(t *testing.T) {
			graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
				c := rcSetup(t, e)
				id, email, full := c.user("ADMIN", true)
				waiting := e.StartLogin(email, graphtest.Password)
				if waiting.Step != "TWO_FACTOR_REQUIRED" {
					t.Fatalf("second login step %q", waiting.Step)
				}
				if code := c.createUser(full); code != "" {
					t.Fatalf("before removal: %q", code)
				}
				var out struct {
					RemoveUser struct{ RemovedUserID string }
				}
				e.MustPost(c.sa, mxMutations["removeUser"], map[string]any{"id": id}, &out)
				if out.RemoveUser.RemovedUserID != id {
					t.Fatalf("removeUser answered %+v", out)
				}
				if r := e.Post(full, `{ me { id } }`, nil); r.Code() != "UNAUTHENTICATED" {
					t.Errorf("the removed user's session: me %q %s", r.Code(), r.Data)
				}
				if code := c.createUser(full); code != "UNAUTHENTICATED" {
					t.Errorf("the removed user's session: createUser %q", code)
				}
				if r := e.Verify(waiting.Token, e.Code(email)); r.Code() != "UNAUTHENTICATED" {
					t.Errorf("the removed user's waiting login: verifyTwoFactor %q %s", r.Code(), r.Data)
				}
				if r := e.Login(email, graphtest.Password); r.Code() != "UNAUTHENTICATED" {
					t.Errorf("the removed user logs in: %q %s", r.Code(), r.Data)
				}
			}, func(cfg *portal.Config) { cfg.RoleChange = mode })
		})
	}
}

// TestResetTwoFactorEndsSessions: resetTwoFactor ends the user's sessions
// and the next login must enrol a new secret.
func TestResetTwoFactorEndsSessions(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		c := rcSetup(t, e)
		id, email, token := c.user("CREATOR", true)
		oldSecret := e.Secret(email)
		var out struct {
			ResetTwoFactor struct {
				User struct{ TwoFactorEnabled bool }
			}
		}
		e.MustPost(c.sa, mxMutations["resetTwoFactor"], map[string]any{"id": id}, &out)
		if out.ResetTwoFactor.User.TwoFactorEnabled {
			t.Error("resetTwoFactor answered twoFactorEnabled true")
		}
		if r := e.Post(token, `{ me { id } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("session after resetTwoFactor: %q %s", r.Code(), r.Data)
		}
		login := e.StartLogin(email, graphtest.Password)
		if login.Step != "TWO_FACTOR_ENROLLMENT_REQUIRED" || login.Enrollment == nil || login.Enrollment.Secret == "" {
			t.Fatalf("login after resetTwoFactor: %+v", login)
		}
		if login.Enrollment.Secret == oldSecret {
			t.Error("the new enrolment reuses the old secret")
		}
		// A code of the old secret no longer works; one of the new does.
		oldCode, err := portal.TOTPCode(oldSecret, e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r := e.Verify(login.Token, oldCode); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("a code of the old secret: %q %s", r.Code(), r.Data)
		}
		var v struct{ VerifyTwoFactor struct{ Step string } }
		e.Verify(login.Token, e.Code(email)).Decode(t, &v)
		if v.VerifyTwoFactor.Step != "SIGNED_IN" {
			t.Errorf("enrolment step %q", v.VerifyTwoFactor.Step)
		}
	})
}
