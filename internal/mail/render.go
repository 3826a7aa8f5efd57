package mail

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	netmail "net/mail"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/clientportal/portal/internal/portal"
)

//go:embed templates
var templateFS embed.FS

// One pair of templates per email kind, named after the kind.
var (
	textTemplates = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/*.html"))
)

// subjects holds the subject line of each kind; %s is the organisation.
var subjects = map[portal.EmailKind]string{
	portal.EmailInvitation:       "You're invited to the %s client portal",
	portal.EmailAdminReset:       "Reset your password for the %s client portal",
	portal.EmailSelfServiceReset: "Your password reset link for the %s client portal",
}

// expiryLayout shows a link's expiry, always in UTC.
const expiryLayout = "Monday, 2 January 2006 at 15:04 UTC"

// Message is a rendered email, ready for a Sender. To is a bare address
// and ToName and Subject hold no control characters (no CR or LF), so
// neither can add a header.
type Message struct {
	// ID identifies the message for its Message-ID header (the outbox
	// id); empty: a random one.
	ID      string
	To      string
	ToName  string
	Subject string
	Text    string
	HTML    string
	// Link is the link in the body. Only the development Log sender uses
	// it; nothing else may log it (it holds a live token).
	Link string
}

type templateData struct {
	Name, OrgName, Inviter, Link, Expires string
}

// Render builds the email of e from its kind's templates. Values are
// escaped in the HTML body; names are reduced to one line. It fails for an
// unknown kind, a recipient that is not a single bare address, or a
// missing link or expiry; such a message can never be sent.
func Render(e portal.Email) (Message, error) {
	subject, ok := subjects[e.Kind]
	if !ok {
		return Message{}, fmt.Errorf("mail: unknown email kind %q", e.Kind)
	}
	to, err := netmail.ParseAddress(e.To)
	if err != nil || to.Name != "" || to.Address != strings.TrimSpace(e.To) {
		return Message{}, errors.New("mail: recipient is not a valid email address")
	}
	if e.Link == "" || e.ExpiresAt.IsZero() {
		return Message{}, errors.New("mail: email has no link or no expiry")
	}
	d := templateData{
		Name:    oneLine(e.ToName),
		OrgName: oneLine(e.OrgName),
		Inviter: oneLine(e.Inviter),
		Link:    e.Link,
		Expires: e.ExpiresAt.UTC().Format(expiryLayout),
	}
	m := Message{To: to.Address, ToName: d.Name, Subject: fmt.Sprintf(subject, d.OrgName), Link: e.Link}
	var text, html strings.Builder
	if err := textTemplates.ExecuteTemplate(&text, string(e.Kind)+".txt", d); err != nil {
		return Message{}, fmt.Errorf("mail: render text: %w", err)
	}
	if err := htmlTemplates.ExecuteTemplate(&html, string(e.Kind)+".html", d); err != nil {
		return Message{}, fmt.Errorf("mail: render html: %w", err)
	}
	m.Text, m.HTML = text.String(), html.String()
	return m, nil
}

// oneLine replaces control characters (CR, LF, tabs...) with spaces and
// collapses runs of white space, so a value can't break a header line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}
