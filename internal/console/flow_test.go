package console_test

import (
	"strings"
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
	bt "github.com/clientportal/portal/internal/browsertest"
	"github.com/clientportal/portal/internal/console"
)

// TestInvitationToOverview is the new user's path: open the emailed link,
// see the password policy, get an inline error for a short password, set a
// good one, sign in, enrol 2FA from the QR code's secret, see the overview.
// Opening the link consumes nothing and sends nothing.
func TestInvitationToOverview(t *testing.T) {
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
