package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
)

func TestNewSMTPRejectsBadConfig(t *testing.T) {
	const from = "portal@acme.example"
	for _, tc := range []struct{ url, from, want string }{
		{"", from, "scheme must be smtp:// or smtps://"},
		{"http://mail.example:25", from, `scheme must be smtp:// or smtps://, got "http"`},
		{"mail.example:25", from, "scheme must be"},
		{"smtp://", from, "missing host"},
		{"smtp:///path", from, "missing host"},
		{"smtp://:25", from, "missing host"},
		{"smtp://user:pw@", from, "missing host"},
		{"smtp://mail.example:0", from, "invalid port"},
		{"smtp://mail.example:70000", from, "invalid port"},
		{"smtp://user:s3cret@mail.example:abc", from, "smtp url"},
		{"smtp://mail.example/inbox", from, "unexpected path"},
		{"smtp://mail.example?tls=off", from, "unexpected path"},
		{"smtp://mail.example", "", "from address: missing"},
		{"smtp://mail.example", "not an address", "from address"},
		{"smtp://mail.example", "a@b.example, c@d.example", "from address"},
	} {
		_, err := mail.NewSMTP(tc.url, tc.from, time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSMTP(%q, %q) = %v, want an error containing %q", tc.url, tc.from, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
	for _, ok := range []string{"smtp://mail.example", "smtp://u:p@mail.example:2525", "smtps://mail.example", "SMTPS://u%40x:p%2Fw@mail.example:465/"} {
		if _, err := mail.NewSMTP(ok, "Acme Portal <portal@acme.example>", 0); err != nil {
			t.Errorf("NewSMTP(%q) = %v", ok, err)
		}
	}
}

func rendered(t testing.TB) mail.Message {
	t.Helper()
	m, err := mail.Render(email(portal.EmailInvitation))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// smtps:// speaks TLS from the first byte, verifies the certificate, and
// authenticates with the URL's (percent-decoded) credentials.
func TestSMTPSImplicitTLS(t *testing.T) {
	sk := newSink(t, func(s *sink) { s.tls, s.user, s.pass = true, "portal@acme.example", "p@ss/word" })
	s, err := mail.NewSMTP("smtps://portal%40acme.example:p%40ss%2Fword@"+sk.addr, "portal@acme.example", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The certificate is self-signed: without trusting it, nothing is sent.
	if err := s.Send(context.Background(), rendered(t)); err == nil {
		t.Fatal("sent over TLS to an untrusted certificate")
	}
	if err := mail.SetTLSConfig(s, sk.trusting()); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), rendered(t)); err != nil {
		t.Fatal(err)
	}
	msgs := sk.messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "portal@acme.example" {
		t.Fatalf("sink got %+v", msgs)
	}

	// smtp:// to the same port does not speak TLS first, so it fails.
	plain, err := mail.NewSMTP("smtp://"+sk.addr, "portal@acme.example", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Send(context.Background(), rendered(t)); err == nil {
		t.Fatal("plain SMTP to an implicit TLS port succeeded")
	}
}

// smtp:// upgrades with STARTTLS when the server offers it.
func TestSMTPStartTLS(t *testing.T) {
	sk := newSink(t, func(s *sink) { s.starttls, s.user, s.pass = true, "u", "pw" })
	s, err := mail.NewSMTP("smtp://u:pw@"+sk.addr, "portal@acme.example", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.SetTLSConfig(s, sk.trusting()); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), rendered(t)); err != nil {
		t.Fatal(err)
	}
	if msgs := sk.messages(); len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "u" {
		t.Fatalf("sink got %+v", msgs)
	}
}

// Without TLS, a password is never sent in clear text.
func TestSMTPNoPasswordInClear(t *testing.T) {
	sk := newSink(t, func(s *sink) { s.insecureAuth, s.user, s.pass = true, "u", "pw" })
	s, err := mail.NewSMTP("smtp://u:pw@"+sk.addr, "portal@acme.example", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), rendered(t)); err == nil {
		t.Fatal("authenticated with PLAIN over a plain connection")
	}
	if len(sk.messages()) != 0 {
		t.Fatal("message accepted")
	}
}

// With RequireTLS, smtp:// refuses a server that offers no STARTTLS (or
// whose STARTTLS was stripped on the way) and still works with one that does.
func TestSMTPRequireTLS(t *testing.T) {
	plain := newSink(t)
	s, err := mail.NewSMTP("smtp://"+plain.addr, "portal@acme.example", 5*time.Second, mail.RequireTLS())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), rendered(t)); err == nil || len(plain.messages()) != 0 {
		t.Fatalf("sent without TLS: %v, %d messages", err, len(plain.messages()))
	}
	tlsSink := newSink(t, func(s *sink) { s.starttls = true })
	s, err = mail.NewSMTP("smtp://"+tlsSink.addr, "portal@acme.example", 5*time.Second, mail.RequireTLS())
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.SetTLSConfig(s, tlsSink.trusting()); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), rendered(t)); err != nil {
		t.Fatal(err)
	}
	if msgs := tlsSink.messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Fatalf("sink got %+v", msgs)
	}
}
