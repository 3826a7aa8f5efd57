package mail

import (
	"context"
	"log/slog"
)

// Sender hands a rendered message to whatever delivers it. Send returns
// nil only when the message was accepted; any error is retried by the
// Worker, so a Sender must not report an error for a message it delivered.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Log is the development Sender used when no SMTP server is configured: it
// writes each email's recipient, subject and link to the log instead of
// sending it. The link is logged on purpose (it is the only way to follow
// it), so Log must not be used in production.
type Log struct{ log *slog.Logger }

// NewLog returns a Log sender writing to l (slog.Default() if nil).
func NewLog(l *slog.Logger) *Log {
	if l == nil {
		l = slog.Default()
	}
	return &Log{log: l}
}

// Send logs m and never fails.
func (s *Log) Send(ctx context.Context, m Message) error {
	s.log.InfoContext(ctx, "email not sent (no SMTP server configured)",
		"id", m.ID, "to", m.To, "subject", m.Subject, "link", m.Link)
	return nil
}
