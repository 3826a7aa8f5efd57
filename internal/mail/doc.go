// Package mail delivers the emails that the service puts in the
// transactional outbox (invitations and password resets).
//
// Render turns a portal.Email into a subject and a plain-text and HTML
// body from embedded templates. A Worker claims due outbox messages,
// renders them and hands them to a Sender: SMTP (github.com/wneessen/go-mail)
// in production, or Log, which writes each email, link included, to the
// log in the embedded development mode. Failed sends are retried with
// exponential backoff and full jitter until Options.MaxAttempts, then the
// message is marked failed.
//
// Delivery is at least once: a message is marked sent after the mail
// server accepted it, so a crash (or a lost database) between the two
// sends it again once its lease runs out. In the normal path each message
// is sent exactly once, also with several workers on one PostgreSQL
// database.
package mail
