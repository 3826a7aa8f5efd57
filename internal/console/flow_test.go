package console_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/clientportal/portal/graph/graphtest"
	bt "github.com/clientportal/portal/internal/browsertest"
	"github.com/clientportal/portal/internal/console"
	"github.com/clientportal/portal/internal/portal"
)

// TestInvitationToOverview is the new user's path: open the emailed link,
// see the password policy, get an inline error for a short password, set a
// good one, sign in, enrol 2FA from the QR code's secret, see the overview.
// Opening the link consumes nothing and sends nothing.
func TestInvitationToOverview(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{})
	admin, _ := s.CreateOrganization("Acme", "ann@example.com")
	s.Invite(admin, "bob@example.com", "Bob Builder", "CREATOR")
	token := s.LinkToken("bob@example.com", "accept-invitation")

	p := bt.New(t)
	before := s.apiCalls()
	p.Go(s.URL + "/accept-invitation#token=" + token)
	p.See(bt.Heading("Accept your invitation"))
	p.SeeText("must be 12 to 128 characters long")
	if n := s.apiCalls(); n != before {
		t.Fatalf("opening the invitation page sent %d GraphQL requests; want none", n-before)
	}
	for _, r := range p.Requests() {
		if strings.Contains(r, token) {
			t.Fatalf("the token left the fragment: %s", r)
		}
	}

	p.Fill("New password", "too short")
	p.Fill("Confirm password", "too short")
	p.Click(bt.Button("Set password"))
	p.See("//*[@aria-invalid='true']")
	p.SeeText("12")

	p.Fill("New password", graphtest.Password)
	p.Fill("Confirm password", graphtest.Password)
	p.Click(bt.Button("Set password"))
	p.See(bt.Status("Your password is set"))
	secrets := map[string]string{}
	s.signIn(t, p, "bob@example.com", secrets)
	if secrets["bob@example.com"] == "" {
		t.Fatal("the first sign-in did not enrol 2FA")
	}
	p.See(bt.Row("Users", "bob@example.com"))
	p.See(bt.Row("Users", "ann@example.com"))
}

// TestIdleTimeoutReturnsToSignIn: the console sends nothing on its own
// (no polling that would keep the session alive), and when the server has
// ended the session for idleness the next action lands on the sign-in page
// with a message.
func TestIdleTimeoutReturnsToSignIn(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{})
	s.CreateOrganization("Acme", "ann@example.com")
	p := bt.New(t)
	p.Go(s.URL + "/")
	s.signIn(t, p, "ann@example.com", map[string]string{})
	p.See(bt.Row("Users", "ann@example.com"))
	p.SeeText("Signed out after 5 minutes idle")

	before := s.apiCalls()
	time.Sleep(2500 * time.Millisecond)
	if n := s.apiCalls() - before; n != 0 {
		t.Fatalf("an idle console sent %d requests in 2.5 s; want none", n)
	}

	s.Clock.Advance(5*time.Minute + time.Second)
	p.Click(bt.Button("Email"))
	p.See(bt.Heading("Sign in"))
	p.See(bt.Status("Your session has ended"))
}

// TestConsoleSignsOutWhenIdle: the console counts the idle time itself and
// signs out when it is over, without any request but the sign-out.
func TestConsoleSignsOutWhenIdle(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{IdleTimeout: 6 * time.Second})
	s.CreateOrganization("Acme", "ann@example.com")
	p := bt.New(t)
	p.Go(s.URL + "/")
	s.signIn(t, p, "ann@example.com", map[string]string{})
	p.See(bt.Row("Users", "ann@example.com"))
	before := s.apiCalls()
	p.SeeText("Signed out after 6 seconds idle")
	p.See(bt.Status("You were signed out after 6 seconds without activity."))
	if n := s.apiCalls() - before; n != 1 {
		t.Fatalf("while idle the console sent %d requests; want 1 (the sign-out)", n)
	}
	// Signed out for real: a reload asks to sign in.
	p.Go(s.URL + "/")
	p.See(bt.Heading("Sign in"))
}

// TestTabsShareActivity: two tabs share the session, so requests in one
// keep the other, idle, from signing both out; then both sign out.
func TestTabsShareActivity(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{IdleTimeout: 10 * time.Second})
	s.CreateOrganization("Acme", "ann@example.com")
	p := bt.New(t)
	p.Go(s.URL + "/")
	s.signIn(t, p, "ann@example.com", map[string]string{})
	q := p.NewTab()
	q.Go(s.URL + "/")
	q.See(bt.Row("Users", "ann@example.com"))
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
		time.Sleep(time.Second)
		q.Click("//th/button[starts-with(normalize-space(.), 'Email')]") // sort by email, back and forth
	}
	if n := p.Count(bt.Heading("User management")); n != 1 {
		t.Fatal("an idle tab signed out while another tab of the same session was in use")
	}
	// Then it signs out once the session has been idle for the timeout. The
	// last sort's answer may arrive seconds late on a loaded machine, and
	// the idle time counts from it, so this waits longer than See does.
	signedOut := bt.Status("You were signed out after 10 seconds without activity.")
	for deadline := time.Now().Add(40 * time.Second); p.Count(signedOut) == 0 && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
	}
	p.See(signedOut)
}

// TestPasswordResetPages: "Forgot password?" sends a reset link; the link's
// page checks the two passwords, sets the new one and leads to sign-in,
// where the new password works. A bad or missing token says so.
func TestPasswordResetPages(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{})
	admin, _ := s.CreateOrganization("Acme", "ann@example.com")
	s.NewUser(admin, "bob@example.com", "Bob Builder", "CREATOR")

	p := bt.New(t)
	p.Go(s.URL + "/")
	p.Click(bt.Button("Forgot password?"))
	p.See(bt.Heading("Reset your password"))
	p.Fill("Email", "bob@example.com")
	p.Click(bt.Button("Send reset link"))
	p.See(bt.Status("If an account exists for bob@example.com"))
	token := s.LinkToken("bob@example.com", "reset-password")

	p.Go(s.URL + "/reset-password#token=" + token)
	p.See(bt.Heading("Choose a new password"))
	p.SeeText("must be 12 to 128 characters long")
	const fresh = "a brand new passphrase here"
	p.Fill("New password", fresh)
	p.Fill("Confirm password", fresh+"!")
	p.Click(bt.Button("Set password"))
	p.SeeText("The two passwords are not the same.")
	p.Fill("Confirm password", fresh)
	p.Click(bt.Button("Set password"))
	p.See(bt.Status("Your password has been changed."))
	s.signInWith(t, p, "bob@example.com", fresh, map[string]string{"bob@example.com": s.Secret("bob@example.com")})

	// The used link, a made-up one, and none at all.
	q := bt.New(t)
	q.Go(s.URL + "/reset-password#token=" + token)
	q.Fill("New password", fresh+" again")
	q.Fill("Confirm password", fresh+" again")
	q.Click(bt.Button("Set password"))
	q.See(bt.Status("This link is invalid, expired or already used; ask for a new one."))
	q.Go(s.URL + "/accept-invitation")
	q.See(bt.Status("This link is incomplete."))
}

// TestErrorsReadAsSentences: a wrong password, then too many attempts,
// which says when to try again; and every error code of the contract has
// a sentence of its own in the console.
func TestErrorsReadAsSentences(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{}, func(c *portal.Config) {
		c.Limits.LoginPerAccount = portal.Limit{Rate: 1, Burst: 1, Period: time.Minute}
	})
	_, annID := s.CreateOrganization("Acme", "ann@example.com")
	s.Seed(s.OrgOf(annID), "bob@example.com", "Bob", "VIEWER") // never signed in: the budget is untouched
	p := bt.New(t)
	p.Go(s.URL + "/")
	p.Fill("Email", "bob@example.com")
	p.Fill("Password", "not the password at all")
	p.Click(bt.Button("Sign in"))
	p.See(bt.Status("Wrong email or password."))
	p.Click(bt.Button("Sign in"))
	p.See(bt.Status("Too many attempts. Please try again in "))
	if text := p.TextOf(bt.Status("Too many attempts")); !regexp.MustCompile(`try again in \d+ seconds? \(at \d\d:\d\d`).MatchString(text) {
		t.Errorf("rate limit message %q does not say when to retry", text)
	}

	// Every code the contract lists.
	contract, err := os.ReadFile("../../graph/testdata/contract.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(?m)^#   ([A-Z_]{5,})\s`).FindAllStringSubmatch(string(contract), -1)
	if len(codes) < 7 {
		t.Fatalf("found only %d error codes in the contract", len(codes))
	}
	internal := bt.Eval[string](p, `import('/assets/api.js').then((m) => m.sentence({ code: 'INTERNAL', message: 'internal error (id 0123abcd)' }))`)
	if internal != "Something went wrong on the server. Please try again (reference 0123abcd)." {
		t.Errorf("INTERNAL reads %q", internal)
	}
	for _, c := range codes {
		code := c[1]
		got := bt.Eval[string](p, `import('/assets/api.js').then((m) => m.sentence({ code: '`+code+`', retryAfterSeconds: 42 }))`)
		if got == "" || !strings.HasSuffix(got, ".") || strings.Contains(got, code) || got[0] < 'A' || got[0] > 'Z' {
			t.Errorf("%s reads %q: not a sentence", code, got)
		}
		if code != "INTERNAL" && strings.HasPrefix(got, "Something went wrong") {
			t.Errorf("%s has no sentence of its own: %q", code, got)
		}
		if code == "RATE_LIMITED" && !strings.Contains(got, "in 42 seconds") {
			t.Errorf("RATE_LIMITED reads %q: it does not say when to retry", got)
		}
	}
}

// TestGraphiQLWorksOffline: the playground renders and introspects the
// schema with every asset from the binary: the browser reaches nothing but
// this server, and the strict CSP reports no violation.
func TestGraphiQLWorksOffline(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{})
	p := bt.New(t)
	p.Go(s.URL + "/graphiql")
	p.See("//*[@aria-label='Query Editor']")
	p.Click(bt.Button("Show Documentation Explorer"))
	// The schema came through introspection of /graphql.
	p.See("//section[@aria-label='Documentation Explorer']//a[normalize-space(.)='Query']")
	for _, r := range p.Requests() {
		_, url, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(url, s.URL+"/") && !strings.HasPrefix(url, "data:") {
			t.Errorf("GraphiQL requested %s: not from this server", url)
		}
	}
}

// TestProfileAndPaging: a user's name opens their profile; the table pages
// by cursor, forwards and back.
func TestProfileAndPaging(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{})
	admin, annID := s.CreateOrganization("Acme", "ann@example.com")
	s.Invite(admin, "ivy@example.com", "Ivy Invited", "VIEWER")
	orgID := s.OrgOf(annID)
	for i := range 43 {
		s.SeedUser(&portal.User{OrgID: orgID, Email: fmt.Sprintf("user%02d@example.com", i), Name: fmt.Sprintf("User %02d", i), Role: "VIEWER"})
	}
	p := bt.New(t)
	p.Go(s.URL + "/")
	s.signIn(t, p, "ann@example.com", map[string]string{})

	p.Click(bt.Button("Ivy Invited"))
	dlg := bt.Dialog("Ivy Invited")
	p.See(dlg)
	profile := strings.Join(p.Texts(dlg+"//dl/*"), "|")
	for _, want := range []string{"Email|ivy@example.com", "Role|Viewer", "Status|Invited (has not accepted yet)",
		"Two-factor authentication|Not set up", "Created|", "Invited by|Super Acme (ann@example.com)", "Last active|Never", "Invitation sent|"} {
		if !strings.Contains(profile, want) {
			t.Errorf("profile %q lacks %q", profile, want)
		}
	}
	p.Click(dlg + bt.Button("Close"))
	p.Gone(dlg)

	p.SeeText("1–20 of 45 users")
	first := p.Texts("//table[@aria-label='Users']/tbody/tr/td[1]//button")
	p.Click(bt.Button("Next page"))
	p.SeeText("21–40 of 45 users")
	p.Click(bt.Button("Next page"))
	p.SeeText("41–45 of 45 users")
	if p.Count(bt.Button("Next page")+"[@disabled]") != 1 {
		t.Error("Next page is enabled on the last page")
	}
	p.Click(bt.Button("Previous page"))
	p.SeeText("21–40 of 45 users")
	p.Click(bt.Button("Previous page"))
	p.SeeText("1–20 of 45 users")
	if again := p.Texts("//table[@aria-label='Users']/tbody/tr/td[1]//button"); !slices.Equal(first, again) || len(first) != 20 {
		t.Errorf("back on page 1: %q, first time %q", again, first)
	}
}

// TestSlowNetwork: with every request taking a second, the console shows
// that it is working, lets nothing be sent twice, and gets there.
func TestSlowNetwork(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{})
	s.CreateOrganization("Acme", "ann@example.com")
	p := bt.New(t)
	p.Go(s.URL + "/")
	p.SlowNetwork(time.Second)
	p.Fill("Email", "ann@example.com")
	p.Fill("Password", graphtest.Password)
	p.Click(bt.Button("Sign in"))
	p.See(bt.Button("Please wait…") + "[@disabled]")
	p.Fill("Authentication code", s.code(t, s.Secret("ann@example.com")))
	p.Click(bt.Button("Verify"))
	p.See(bt.Heading("User management"))
	p.See("//table[@aria-label='Users' and @aria-busy='true']")
	p.See(bt.Row("Users", "ann@example.com"))
}

// TestKeyboardOnly: menus and dialogs work from the keyboard: Enter opens a
// menu with focus on its first item, arrows move, Escape closes and gives
// focus back; a confirmation dialog takes focus and gives it back.
func TestKeyboardOnly(t *testing.T) {
	t.Parallel()
	s := newSite(t, console.Options{})
	admin, _ := s.CreateOrganization("Acme", "ann@example.com")
	s.Invite(admin, "ivy@example.com", "Ivy Invited", "VIEWER")
	p := bt.New(t)
	p.Go(s.URL + "/")
	s.signIn(t, p, "ann@example.com", map[string]string{})

	kebab := bt.Button("Actions for Ivy Invited")
	p.See(kebab)
	bt.Eval[bool](p, `(document.querySelector('[aria-label="Actions for Ivy Invited"]').focus(), true)`)
	p.Key(kb.Enter)
	p.See(bt.MenuItems)
	waitFocus(t, p, "menuitem Resend invitation")
	p.Key(kb.ArrowDown)
	waitFocus(t, p, "menuitem Remove user")
	p.Key(kb.ArrowDown)
	waitFocus(t, p, "menuitem Resend invitation")
	p.Key(kb.Escape)
	p.Gone(bt.MenuItems)
	waitFocus(t, p, "button Actions for Ivy Invited")

	p.Key(kb.Enter)
	waitFocus(t, p, "menuitem Resend invitation")
	p.Key(kb.Enter)
	dlg := bt.Dialog("Resend invitation")
	p.See(dlg)
	waitFocus(t, p, "button Cancel")
	p.Key(kb.Escape)
	p.Gone(dlg)
	waitFocus(t, p, "button Actions for Ivy Invited")
}

func waitFocus(t *testing.T, p *bt.Page, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := p.Focused()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("focus is on %q, want %q", got, want)
		}
		time.Sleep(30 * time.Millisecond)
	}
}
