package console_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"

	"github.com/clientportal/portal/graph/graphtest"
	bt "github.com/clientportal/portal/internal/browsertest"
	"github.com/clientportal/portal/internal/console"
)

// The seed's action table (../shared/seeds: "User Management on the Client
// Portal"), row by row, for every role, read off the real console in
// Chromium: what each role sees in the users table, the role drop-down and
// the kebab menu. The expectations are written out here by hand from the
// seed and DESIGN.md section 1, not computed by the code under test.

type member struct {
	name, email, role string
	invited, twoFA    bool
}

// The organisation: two of each role (one with 2FA set up, one without),
// and an invited user. Super Acme is the organisation's first Super Admin.
var members = []member{
	{"Super Acme", "ann@example.com", "SUPER_ADMIN", false, true},
	{"Sam Second", "sam@example.com", "SUPER_ADMIN", false, false},
	{"Ada Admin", "ada@example.com", "ADMIN", false, true},
	{"Abe Admin", "abe@example.com", "ADMIN", false, false},
	{"Cy Creator", "cy@example.com", "CREATOR", false, true},
	{"Cal Creator", "cal@example.com", "CREATOR", false, false},
	{"Vi Viewer", "vi@example.com", "VIEWER", false, true},
	{"Val Viewer", "val@example.com", "VIEWER", false, false},
	{"Eve Ecom", "eve@example.com", "ECOMMERCE_VIEWER", false, true},
	{"Ed Ecom", "ed@example.com", "ECOMMERCE_VIEWER", false, false},
	{"Ivy Invited", "ivy@example.com", "VIEWER", true, false},
}

var roleLabel = map[string]string{"SUPER_ADMIN": "Super Admin", "ADMIN": "Admin", "CREATOR": "Creator",
	"VIEWER": "Viewer", "ECOMMERCE_VIEWER": "Ecommerce Viewer"}

// dropDown[viewer role][target role] is the role drop-down's items; nil:
// the role is plain text, with no drop-down.
var dropDown = map[string]map[string][]string{
	"SUPER_ADMIN": {
		"ADMIN":            {"Creator", "Viewer", "Ecommerce Viewer"},
		"CREATOR":          {"Admin", "Viewer", "Ecommerce Viewer"},
		"VIEWER":           {"Admin", "Creator", "Ecommerce Viewer"},
		"ECOMMERCE_VIEWER": {"Admin", "Creator", "Viewer"},
	},
	"ADMIN": {
		"CREATOR":          {"Viewer", "Ecommerce Viewer"},
		"VIEWER":           {"Creator", "Ecommerce Viewer"},
		"ECOMMERCE_VIEWER": {"Creator", "Viewer"},
	},
}

// manages[viewer role][target role]: the kebab menu's actions apply.
var manages = map[string]map[string]bool{
	"SUPER_ADMIN": {"ADMIN": true, "CREATOR": true, "VIEWER": true, "ECOMMERCE_VIEWER": true},
	"ADMIN":       {"CREATOR": true, "VIEWER": true, "ECOMMERCE_VIEWER": true},
}

// kebab is the kebab menu a viewer should see on m's row; nil: no menu.
func kebab(viewer string, m member) []string {
	if !manages[viewer][m.role] {
		return nil
	}
	if m.invited { // only INVITED users get invitations
		return []string{"Resend invitation", "Remove user"}
	}
	if m.twoFA { // only users with 2FA get a 2FA reset
		return []string{"Send password reset", "Reset 2FA", "Remove user"}
	}
	return []string{"Send password reset", "Remove user"}
}

// org is a site with the members above, and the Super Admin's API token.
type org struct {
	*site
	admin   string
	ids     map[string]string // email -> id
	secrets map[string]string // email -> TOTP secret
}

func newOrg(t *testing.T, o console.Options) *org {
	s := newSite(t, o)
	token, annID := s.CreateOrganization("Acme", "ann@example.com")
	g := &org{site: s, admin: token, ids: map[string]string{"ann@example.com": annID}, secrets: map[string]string{}}
	orgID := s.OrgOf(annID)
	for _, m := range members[1:] {
		switch {
		case m.invited:
			g.ids[m.email] = s.Invite(token, m.email, m.name, m.role)
		default:
			g.ids[m.email] = s.Seed(orgID, m.email, m.name, m.role)
			if m.twoFA {
				s.SignIn(m.email, graphtest.Password) // enrols 2FA
			}
		}
	}
	return g
}

// open signs email in on a new tab and returns it at the overview.
func (g *org) open(t *testing.T, email string) *bt.Page {
	t.Helper()
	p := bt.New(t)
	p.Go(g.URL + "/")
	g.signIn(t, p, email, g.secrets)
	return p
}

// userState reads a user through the API as the Super Admin.
func (g *org) userState(t *testing.T, email string) (role string, twoFA, exists bool) {
	t.Helper()
	var out struct {
		User *struct {
			Role             string
			TwoFactorEnabled bool
		}
	}
	g.MustPost(g.admin, `query($id: ID!) { user(id: $id) { role twoFactorEnabled } }`, map[string]any{"id": g.ids[email]}, &out)
	if out.User == nil {
		return "", false, false
	}
	return out.User.Role, out.User.TwoFactorEnabled, true
}

// screenshot writes the page to $PORTAL_SCREENSHOT_DIR (default: a folder
// in the system's temporary directory) and logs where.
func screenshot(t *testing.T, p *bt.Page, name string) {
	t.Helper()
	dir := os.Getenv("PORTAL_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "portal-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, p.Screenshot(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestActionTableForEveryRole: every row of the seed's action table, for
// every role, as the console shows it.
func TestActionTableForEveryRole(t *testing.T) {
	t.Parallel()
	g := newOrg(t, console.Options{})
	viewers := []struct{ email, role string }{
		{"ann@example.com", "SUPER_ADMIN"}, {"ada@example.com", "ADMIN"}, {"cy@example.com", "CREATOR"},
		{"vi@example.com", "VIEWER"}, {"eve@example.com", "ECOMMERCE_VIEWER"},
	}
	for _, v := range viewers {
		t.Run(v.role, func(t *testing.T) {
			p := g.open(t, v.email)
			manager := manages[v.role] != nil

			// View all users: every member, with email, last active and role.
			for _, m := range members {
				row := bt.Row("Users", m.email)
				p.See(row)
				if got := p.Texts(row + "/td[4]"); len(got) != 1 || !strings.HasPrefix(got[0], roleLabel[m.role]) {
					t.Errorf("%s's role cell = %q, want %s", m.name, got, roleLabel[m.role])
				}
			}
			if n := p.Count("//table[@aria-label='Users']/tbody/tr"); n != len(members) {
				t.Errorf("the table has %d rows, want %d", n, len(members))
			}
			p.SeeText("1–11 of 11 users")

			// View definitions of roles, with keyboard focus handled: the
			// dialog takes focus, Escape closes it, focus returns.
			p.Click(bt.Button("View roles"))
			dlg := bt.Dialog("Roles")
			p.See(dlg)
			for _, r := range []string{"Super Admin", "Admin", "Creator", "Viewer", "Ecommerce Viewer"} {
				p.See(dlg + "//th[normalize-space(.)=" + bt.Q(r) + "]")
			}
			if f := p.Focused(); f != "button Close" {
				t.Errorf("focus in the roles dialog is on %q, want its Close button", f)
			}
			p.Key(kb.Escape)
			p.Gone(dlg)
			if f := p.Focused(); f != "button View roles" {
				t.Errorf("after closing the dialog focus is on %q, want the View roles button", f)
			}

			// Create new users: the button only for managers.
			if got := p.Count(bt.Button("+ New User")); got != map[bool]int{true: 1, false: 0}[manager] {
				t.Errorf("+ New User buttons: %d", got)
			}

			// Change an existing user's role; resend invitation, password
			// reset, 2FA reset, remove: the drop-down and the kebab menu.
			for _, m := range members {
				roleBtn := bt.Button("Role of " + m.name + ": " + roleLabel[m.role])
				want := dropDown[v.role][m.role]
				if want == nil {
					if n := p.Count(roleBtn); n != 0 {
						t.Errorf("%s sees a role drop-down on %s", v.role, m.name)
					}
				} else {
					p.Click(roleBtn)
					p.See(bt.MenuItems)
					if got := p.Texts(bt.MenuItems); !slices.Equal(got, want) {
						t.Errorf("%s's role drop-down on %s (%s) = %q, want %q", v.role, m.name, m.role, got, want)
					}
					p.Key(kb.Escape)
					p.Gone(bt.MenuItems)
				}
				kebabBtn := bt.Button("Actions for " + m.name)
				wantK := kebab(v.role, m)
				if wantK == nil {
					if n := p.Count(kebabBtn); n != 0 {
						t.Errorf("%s sees a kebab menu on %s", v.role, m.name)
					}
					continue
				}
				p.Click(kebabBtn)
				p.See(bt.MenuItems)
				if got := p.Texts(bt.MenuItems); !slices.Equal(got, wantK) {
					t.Errorf("%s's kebab menu on %s = %q, want %q", v.role, m.name, got, wantK)
				}
				p.Key(kb.Escape)
				p.Gone(bt.MenuItems)
			}

			// The avatar menu: user management, the audit log for those who
			// may read it, sign out.
			p.Click(bt.Button("Account menu for " + nameOf(v.email)))
			wantMenu := []string{"User management", "Sign out"}
			if manager {
				wantMenu = []string{"User management", "Audit log", "Sign out"}
			}
			if got := p.Texts(bt.MenuItems); !slices.Equal(got, wantMenu) {
				t.Errorf("%s's avatar menu = %q, want %q", v.role, got, wantMenu)
			}
			p.Key(kb.Escape)

			switch v.role {
			case "SUPER_ADMIN":
				screenshot(t, p, "overview-super-admin.png")
			case "VIEWER":
				screenshot(t, p, "overview-viewer.png")
			}
			p.Click(bt.Button("Account menu for " + nameOf(v.email)))
			p.Click(bt.MenuItem("Sign out"))
			p.See(bt.Heading("Sign in"))
			p.See(bt.Status("You have signed out."))
		})
	}
}

func nameOf(email string) string {
	for _, m := range members {
		if m.email == email {
			return m.name
		}
	}
	return ""
}

// TestAdminActionsWork: an Admin performs every action of the table in the
// console, each after a confirmation, and sees its result; what a role
// change or a 2FA reset makes impossible disappears from the menus; a
// refusal reads as a sentence. Then the Super Admin reads the audit log.
func TestAdminActionsWork(t *testing.T) {
	t.Parallel()
	g := newOrg(t, console.Options{})
	p := g.open(t, "ada@example.com")

	// Change a role: the drop-down, then a confirmation that says when the
	// new role takes effect.
	p.Click(bt.Button("Role of Cal Creator: Creator"))
	p.Click(bt.MenuItem("Viewer"))
	dlg := bt.Dialog("Change role")
	p.See(dlg)
	if text := p.TextOf(dlg + "//p"); !strings.Contains(text, "from Creator to Viewer") || !strings.Contains(text, "takes effect the next time Cal Creator signs in") {
		t.Errorf("role change confirmation = %q", text)
	}
	p.Click(dlg + bt.Button("Change role"))
	p.See(bt.Status("Cal Creator's role is now Viewer. It takes effect at their next sign-in."))
	p.See(bt.Button("Role of Cal Creator: Viewer"))
	if role, _, _ := g.userState(t, "cal@example.com"); role != "VIEWER" {
		t.Fatalf("Cal's role after the change = %s", role)
	}

	// Cancel changes nothing.
	p.Click(bt.Button("Role of Val Viewer: Viewer"))
	p.Click(bt.MenuItem("Creator"))
	p.Click(dlg + bt.Button("Cancel"))
	p.Gone(dlg)
	if role, _, _ := g.userState(t, "val@example.com"); role != "VIEWER" {
		t.Fatalf("a cancelled role change changed the role to %s", role)
	}

	// Resend an invitation: a new link, the old one stops working.
	old := g.LinkToken("ivy@example.com", "accept-invitation")
	p.Click(bt.Button("Actions for Ivy Invited"))
	p.Click(bt.MenuItem("Resend invitation"))
	p.Click(bt.Dialog("Resend invitation") + bt.Button("Resend invitation"))
	p.See(bt.Status("A new invitation was sent to ivy@example.com."))
	if fresh := g.LinkToken("ivy@example.com", "accept-invitation"); fresh == old {
		t.Fatal("resending the invitation sent no new link")
	}

	// Initiate a password reset email.
	p.Click(bt.Button("Actions for Vi Viewer"))
	p.Click(bt.MenuItem("Send password reset"))
	p.Click(bt.Dialog("Send password reset") + bt.Button("Send reset link"))
	p.See(bt.Status("A password reset link was sent to vi@example.com."))
	g.LinkToken("vi@example.com", "reset-password") // fails the test when there is none

	// Reset 2FA: done, and then no longer offered for that user.
	p.Click(bt.Button("Actions for Cy Creator"))
	p.Click(bt.MenuItem("Reset 2FA"))
	p.Click(bt.Dialog("Reset two-factor authentication") + bt.Button("Reset 2FA"))
	p.See(bt.Status("Cy Creator's two-factor authentication was reset."))
	if _, twoFA, _ := g.userState(t, "cy@example.com"); twoFA {
		t.Fatal("Cy still has 2FA after the reset")
	}
	p.Click(bt.Button("Actions for Cy Creator"))
	if got := p.Texts(bt.MenuItems); !slices.Equal(got, []string{"Send password reset", "Remove user"}) {
		t.Errorf("Cy's kebab after the 2FA reset = %q", got)
	}
	p.Key(kb.Escape)

	// Remove a user: gone from the table.
	p.Click(bt.Button("Actions for Eve Ecom"))
	p.Click(bt.MenuItem("Remove user"))
	p.Click(bt.Dialog("Remove user") + bt.Button("Remove user"))
	p.See(bt.Status("Eve Ecom was removed."))
	p.Gone(bt.Row("Users", "eve@example.com"))
	if _, _, exists := g.userState(t, "eve@example.com"); exists {
		t.Fatal("Eve still exists")
	}

	// Create a new user, with a role from the Admin's assignable roles.
	p.Click(bt.Button("+ New User"))
	nu := bt.Dialog("New user")
	p.See(nu)
	if got := p.Options("Role"); !slices.Equal(got, []string{"Creator", "Viewer", "Ecommerce Viewer"}) {
		t.Errorf("an Admin may create users as %q, want Creator, Viewer, Ecommerce Viewer", got)
	}
	p.Fill("Email", "nia@example.com")
	p.Fill("Name", "Nia New")
	p.Select("Role", "Creator")
	p.Click(nu + bt.Button("Send invitation"))
	p.See(bt.Status("Nia New was invited: an invitation was sent to nia@example.com."))
	p.See(bt.Row("Users", "nia@example.com"))
	g.LinkToken("nia@example.com", "accept-invitation")

	// The same email again: the CONFLICT reads as a sentence, in the form.
	p.Click(bt.Button("+ New User"))
	p.Fill("Email", "nia@example.com")
	p.Fill("Name", "Nia Again")
	p.Click(nu + bt.Button("Send invitation"))
	p.See(nu + "//*[contains(normalize-space(.), 'already')]")
	p.Click(nu + bt.Button("Cancel"))
	p.Gone(nu)

	// A refusal: Val is promoted to Admin behind the console's back, so
	// removing Val is now FORBIDDEN, shown as a sentence, and nothing changes.
	p.Click(bt.Button("Actions for Val Viewer"))
	p.Click(bt.MenuItem("Remove user"))
	var out struct{}
	g.MustPost(g.admin, `mutation($id: ID!) { changeRole(input: {userId: $id, role: ADMIN}) { user { id } } }`, map[string]any{"id": g.ids["val@example.com"]}, &out)
	p.Click(bt.Dialog("Remove user") + bt.Button("Remove user"))
	p.See(bt.Dialog("Remove user") + "//*[@role='alert' and contains(., 'Your role does not allow this. Nothing was changed.')]")
	p.Click(bt.Dialog("Remove user") + bt.Button("Cancel"))
	if _, _, exists := g.userState(t, "val@example.com"); !exists {
		t.Fatal("a refused removal removed Val")
	}
	p.Gone(bt.Button("Actions for Val Viewer")) // the list was refreshed: Val is an Admin now

	// Search, filter by role and status, sort, as a person uses them.
	p.Fill("Search users", "creator")
	p.Gone(bt.Row("Users", "ann@example.com"))
	p.See(bt.Row("Users", "cy@example.com"))
	p.Fill("Search users", "")
	p.See(bt.Row("Users", "ann@example.com"))
	p.Select("Filter by role", "Admin")
	p.Gone(bt.Row("Users", "cy@example.com"))
	p.See(bt.Row("Users", "val@example.com"))
	p.Select("Filter by role", "All roles")
	p.Select("Filter by status", "Invited")
	p.Gone(bt.Row("Users", "ann@example.com"))
	p.See(bt.Row("Users", "ivy@example.com"))
	p.Select("Filter by status", "All statuses")
	p.See(bt.Row("Users", "ann@example.com"))
	names := func() []string { return p.Texts("//table[@aria-label='Users']/tbody/tr/td[1]//button") }
	p.Click(bt.Button("Email"))
	p.See("//th[@aria-sort='ascending' and .//button[normalize-space(.)='Email ▲']]")
	byEmail := names()
	p.Click(bt.Button("Email ▲"))
	p.See("//th[@aria-sort='descending']")
	desc := names()
	if len(byEmail) < 5 || !slices.Equal(desc, reversed(byEmail)) || byEmail[0] != "Abe Admin" {
		t.Errorf("sorted by email: %q; descending: %q", byEmail, desc)
	}

	// The Super Admin changes an Admin's role, which an Admin may not.
	q := g.open(t, "ann@example.com")
	q.Click(bt.Button("Role of Abe Admin: Admin"))
	q.Click(bt.MenuItem("Creator"))
	q.Click(dlg + bt.Button("Change role"))
	q.See(bt.Status("Abe Admin's role is now Creator."))
	if role, _, _ := g.userState(t, "abe@example.com"); role != "CREATOR" {
		t.Fatalf("Abe's role after the change = %s", role)
	}

	// The Super Admin's audit log shows what the Admin did.
	q.Click(bt.Button("Account menu for Super Acme"))
	q.Click(bt.MenuItem("Audit log"))
	q.See(bt.Heading("Audit log"))
	q.See(bt.Row("Audit log", "Changed a role"))
	q.See(bt.Row("Audit log", "Removed a user"))
	q.See(bt.Row("Audit log", "Invited a user"))
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
