package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultTimeout bounds one SMTP conversation when NewSMTP is given none.
const DefaultTimeout = 30 * time.Second

// SMTP sends email through an SMTP server (github.com/wneessen/go-mail),
// one connection per message. It is safe for concurrent use.
type SMTP struct {
	client *gomail.Client
	from   *netmail.Address
}

// SMTPOption changes how NewSMTP connects.
type SMTPOption func(*smtpOptions)

type smtpOptions struct{ requireTLS bool }

// RequireTLS makes smtp:// insist on STARTTLS.
func RequireTLS() SMTPOption { return func(o *smtpOptions) { o.requireTLS = true } }

// NewSMTP configures an SMTP sender from a URL and a From address.
//
//   - smtp://[user[:password]@]host[:port] uses STARTTLS when the server
//     offers it and plain SMTP when not (port 587 by default);
//   - smtps://[user[:password]@]host[:port] uses implicit TLS (port 465).
//
// Special characters in the user or password must be percent-encoded.
// With a user, the strongest mechanism the server offers is chosen;
// PLAIN and LOGIN are only used over TLS. from may carry a display name
// ("Acme Portal <portal@acme.example>"). timeout bounds each connection
// (DefaultTimeout if <= 0). Errors never repeat the URL, which may hold a
// password.
// With RequireTLS, smtp:// refuses to send when the server does not offer
// STARTTLS, so that nobody on the path can strip it and read the links
// (production sets it).
func NewSMTP(rawURL, from string, timeout time.Duration, opts ...SMTPOption) (*SMTP, error) {
	var o smtpOptions
	for _, f := range opts {
		f(&o)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	var ssl bool
	var port int
	switch u.Scheme {
	case "smtp":
		port = gomail.DefaultPortTLS
	case "smtps":
		ssl, port = true, gomail.DefaultPortSSL
	default:
		return nil, fmt.Errorf("smtp url: scheme must be smtp:// or smtps://, got %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("smtp url: missing host (smtp://user:password@host:port)")
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("smtp url: invalid port %q", p)
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("smtp url: unexpected path, query or fragment after host:port")
	}
	if from == "" {
		return nil, errors.New("smtp from address: missing")
	}
	fromAddr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("smtp from address %q: %w", from, err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}

	gopts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}),
	}
	switch {
	case ssl:
		gopts = append(gopts, gomail.WithSSL())
	case o.requireTLS:
		gopts = append(gopts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		// Not go-mail's default (TLSMandatory), which refuses servers
		// without STARTTLS.
		gopts = append(gopts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		gopts = append(gopts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	client, err := gomail.NewClient(host, gopts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &SMTP{client: client, from: fromAddr}, nil
}

// Send delivers m. ctx bounds connecting; the timeout given to NewSMTP
// bounds the rest of the conversation. An error after the server accepted
// the message (while closing the connection) is not reported, so the
// message is not sent twice.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := netmail.ParseAddress(m.To)
	if err != nil || to.Name != "" {
		return errors.New("smtp: recipient is not a valid email address")
	}
	to.Name = oneLine(m.ToName)
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(oneLine(m.Subject))
	msg.SetDate()
	if m.ID != "" {
		msg.SetMessageIDWithValue(messageID(m.ID, s.from.Address))
	} else {
		msg.SetMessageID()
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil && !msg.IsDelivered() {
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}

// messageID is the Message-ID (without its angle brackets) of the message
// with outbox id: the id, at the sender's domain. Every copy of one
// message carries the same one (delivery is at-least-once).
func messageID(id, from string) string {
	domain := from[strings.LastIndexByte(from, '@')+1:]
	if domain == "" || domain == from {
		domain = "portal.invalid"
	}
	return id + "@" + domain
}
