package mail_test

import (
	"context"
	"log/slog"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
)

var expires = time.Date(2026, 11, 24, 13, 5, 0, 0, time.FixedZone("CET", 3600)) // 12:05 UTC

func email(kind portal.EmailKind) portal.Email {
	return portal.Email{Kind: kind, UserID: "u1", To: "bob@example.com", ToName: "Bob Smith",
		OrgName: "Acme", Inviter: "Ann Admin", Link: "https://portal.example/accept-invitation#token=abc123",
		ExpiresAt: expires}
}

func TestRenderKinds(t *testing.T) {
	const expiry = "Tuesday, 24 November 2026 at 12:05 UTC"
	for _, tc := range []struct {
		kind      portal.EmailKind
		subject   string
		inviter   bool   // the body names the admin who acted
		anonymous string // what the body says instead when no one is named
	}{
		{portal.EmailInvitation, "You're invited to the Acme client portal", true, "You have been invited to the Acme client portal."},
		{portal.EmailAdminReset, "Reset your password for the Acme client portal", true, "An administrator of the Acme client portal has asked"},
		{portal.EmailSelfServiceReset, "Your password reset link for the Acme client portal", false, "Someone, hopefully you,"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := email(tc.kind)
			m, err := mail.Render(e)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tc.subject)
			}
			if m.To != "bob@example.com" || m.ToName != "Bob Smith" || m.Link != e.Link {
				t.Errorf("recipient/link = %q %q %q", m.To, m.ToName, m.Link)
			}
			for name, body := range map[string]string{"text": m.Text, "html": m.HTML} {
				want := []string{"Acme", e.Link, expiry, "Bob Smith"}
				if tc.inviter {
					want = append(want, "Ann Admin")
				}
				for _, w := range want {
					if !strings.Contains(body, w) {
						t.Errorf("%s body lacks %q:\n%s", name, w, body)
					}
				}
			}
			if !strings.Contains(m.HTML, `href="`+e.Link+`"`) {
				t.Errorf("html has no link to %s:\n%s", e.Link, m.HTML)
			}

			// Without an inviter (the operator, or the user themself) the
			// body reads without a name.
			e.Inviter = ""
			m, err = mail.Render(e)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(m.Text, "Ann Admin") || !strings.Contains(m.Text, tc.anonymous) {
				t.Errorf("text without inviter lacks %q:\n%s", tc.anonymous, m.Text)
			}
		})
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	e := email(portal.EmailInvitation)
	e.OrgName = `<script>alert("x")</script> & Co`
	e.Inviter = `<b>Mallory</b>`
	m, err := mail.Render(e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>") {
		t.Fatalf("unescaped markup in html:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") || !strings.Contains(m.HTML, "&amp; Co") || !strings.Contains(m.HTML, "&lt;b&gt;Mallory") {
		t.Fatalf("html does not show the escaped names:\n%s", m.HTML)
	}
	// A link that is not http(s) is neutralised in href.
	e.Link = "javascript:alert(1)"
	if m, err = mail.Render(e); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, `href="javascript:`) {
		t.Fatalf("javascript link kept:\n%s", m.HTML)
	}
}

func TestRenderRefusesBadEmails(t *testing.T) {
	for name, change := range map[string]func(*portal.Email){
		"unknown kind":        func(e *portal.Email) { e.Kind = "newsletter" },
		"two recipients":      func(e *portal.Email) { e.To = "bob@example.com, eve@example.com" },
		"recipient with CRLF": func(e *portal.Email) { e.To = "bob@example.com\r\nBcc: eve@example.com" },
		"named recipient":     func(e *portal.Email) { e.To = "Bob <bob@example.com>" },
		"no link":             func(e *portal.Email) { e.Link = "" },
		"no expiry":           func(e *portal.Email) { e.ExpiresAt = time.Time{} },
	} {
		e := email(portal.EmailInvitation)
		change(&e)
		if _, err := mail.Render(e); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

// Names are reduced to one line before they reach a header, and the
// message the server receives has exactly the headers it should.
func TestNoHeaderInjection(t *testing.T) {
	sk := newSink(t)
	s, err := mail.NewSMTP("smtp://"+sk.addr, "Acme Portal <portal@acme.example>", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e := email(portal.EmailInvitation)
	e.ToName = "Bob\r\nBcc: evil@x.example"
	e.OrgName = "Acme\r\nBcc: evil2@x.example\nX-Evil: 1"
	e.Inviter = "Ann\r\n\r\n<h1>body</h1>"
	m, err := mail.Render(e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(m.Subject+m.ToName, "\r\n") {
		t.Fatalf("control characters kept: %q %q", m.Subject, m.ToName)
	}
	// Even a Message built by hand can't add headers.
	m.ToName += "\r\nBcc: evil3@x.example"
	m.Subject += "\nBcc: evil4@x.example"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msgs := sk.messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages", len(msgs))
	}
	if got := msgs[0].To; len(got) != 1 || got[0] != "bob@example.com" {
		t.Fatalf("envelope recipients = %v", got)
	}
	p := parse(t, msgs[0].Data)
	for _, line := range strings.Split(p.RawHead, "\r\n") {
		l := strings.ToLower(line)
		if strings.HasPrefix(l, "bcc:") || strings.HasPrefix(l, "x-evil:") {
			t.Errorf("injected header %q in:\n%s", line, p.RawHead)
		}
	}
	if len(p.Header["Bcc"]) != 0 || len(p.Header["X-Evil"]) != 0 {
		t.Errorf("injected headers: %v", p.Header)
	}
	to, err := netmail.ParseAddress(p.Header.Get("To"))
	if err != nil || to.Address != "bob@example.com" || strings.ContainsAny(to.Name, "\r\n") {
		t.Fatalf("To = %q (%v)", p.Header.Get("To"), err)
	}
	if p.Subject != "You're invited to the Acme Bcc: evil2@x.example X-Evil: 1 client portal Bcc: evil4@x.example" {
		t.Fatalf("subject = %q", p.Subject)
	}
}

func TestLogSenderLogsTheLink(t *testing.T) {
	var buf syncBuffer
	m, err := mail.Render(email(portal.EmailSelfServiceReset))
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.NewLog(slog.New(slog.NewTextHandler(&buf, nil))).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"bob@example.com", m.Subject, m.Link} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("log lacks %q: %s", w, buf.String())
		}
	}
}
