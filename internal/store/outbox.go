package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
)

var _ mail.Outbox = (*DB)(nil)

// Outbox message states.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
	// OutboxCancelled: superseded before it was sent (a newer link was
	// issued, or the user was removed), so its dead link is never mailed.
	OutboxCancelled = "cancelled"
)

type outboxRow struct {
	bun.BaseModel `bun:"table:outbox"`
	ID            string     `bun:"id,pk"`
	Kind          string     `bun:"kind"`
	UserID        *string    `bun:"user_id"`
	Recipient     string     `bun:"recipient"`
	Payload       []byte     `bun:"payload"`
	Status        string     `bun:"status"`
	Attempts      int        `bun:"attempts"`
	NextAttemptAt time.Time  `bun:"next_attempt_at"`
	LastError     string     `bun:"last_error"`
	CreatedAt     time.Time  `bun:"created_at"`
	SentAt        *time.Time `bun:"sent_at"`
}

// EnqueueEmail writes e to the outbox in the caller's transaction. The
// payload holds a live link token, so it is sealed at rest and bound to
// the message id.
func (s *DB) EnqueueEmail(ctx context.Context, e *portal.Email, now time.Time) error {
	if s.box == nil {
		return fmt.Errorf("store: no secret box to seal outbox payloads")
	}
	plain, err := json.Marshal(e)
	if err != nil {
		return err
	}
	id := newID()
	var uid *string
	if e.UserID != "" {
		uid = &e.UserID
	}
	_, err = s.idb.NewInsert().Model(&outboxRow{ID: id, Kind: string(e.Kind), UserID: uid, Recipient: e.To,
		Payload: s.box.Seal(plain, []byte(id)), Status: OutboxPending, NextAttemptAt: now, CreatedAt: now}).Exec(ctx)
	return translate(err)
}

// Claim takes up to limit messages that are due at now and leases them to
// the caller: each one's next_attempt_at moves to now+lease and its
// attempts go up by one, in one transaction, so no other worker claims it
// until the lease runs out. On PostgreSQL rows locked by a concurrent claim
// are skipped (FOR UPDATE SKIP LOCKED); SQLite transactions are serialised.
// The claimer renews the lease (Renew) while it works on the batch; a
// claimer that stops renewing, e.g. because it died, loses the messages to
// the next claim once the lease has run out.
func (s *DB) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]mail.OutboxMessage, error) {
	var rows []outboxRow
	err := s.inTx(ctx, func(idb bun.IDB) error {
		q := idb.NewSelect().Model(&rows).
			Where("status = ? AND next_attempt_at <= ?", OutboxPending, now).
			OrderExpr("next_attempt_at, id").Limit(int64(max(limit, 1)))
		if s.postgres {
			q = q.For("UPDATE SKIP LOCKED")
		}
		if err := q.Scan(ctx); err != nil {
			return translate(err)
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		_, err := idb.NewUpdate().Table("outbox").
			Set("next_attempt_at = ?", now.Add(lease)).Set("attempts = attempts + 1").
			Where("id IN (?)", bun.In(ids)).Exec(ctx)
		return translate(err)
	})
	if err != nil {
		return nil, err
	}
	out := make([]mail.OutboxMessage, len(rows))
	for i, r := range rows {
		m := mail.OutboxMessage{ID: r.ID, Kind: portal.EmailKind(r.Kind), Recipient: r.Recipient, Attempts: r.Attempts + 1}
		m.Email, m.Err = s.openPayload(r.ID, r.Payload)
		out[i] = m
	}
	return out, nil
}

func (s *DB) openPayload(id string, sealed []byte) (portal.Email, error) {
	var e portal.Email
	if sealed == nil {
		return e, fmt.Errorf("outbox message %s has no payload", id)
	}
	if s.box == nil {
		return e, fmt.Errorf("store: no secret box to open outbox payloads")
	}
	plain, err := s.box.Open(sealed, []byte(id))
	if err != nil {
		return e, fmt.Errorf("outbox message %s: %w", id, err)
	}
	if err := json.Unmarshal(plain, &e); err != nil {
		return portal.Email{}, fmt.Errorf("outbox message %s: payload: %w", id, err)
	}
	return e, nil
}

// claimed restricts an update to a message still held by the claim that
// set attempts: pending, and not claimed again since.
func claimed(q *bun.UpdateQuery, id string, attempts int) *bun.UpdateQuery {
	return q.Where("id = ? AND status = ? AND attempts = ?", id, OutboxPending, attempts)
}

// Renew extends the lease of the claim that set attempts to until, so a
// worker that is still busy with a message keeps it. portal.ErrNotFound:
// the claim was lost (the message was cancelled, or the lease lapsed and
// another claim followed).
func (s *DB) Renew(ctx context.Context, id string, attempts int, until time.Time) error {
	res, err := claimed(s.idb.NewUpdate().Table("outbox").Set("next_attempt_at = ?", until), id, attempts).Exec(ctx)
	return affectedOne(res, err)
}

// Held reports whether the claim that set attempts still holds the
// message: it has not been cancelled or claimed again since.
func (s *DB) Held(ctx context.Context, id string, attempts int) (bool, error) {
	n, err := s.idb.NewSelect().Table("outbox").Where("id = ? AND status = ? AND attempts = ?", id, OutboxPending, attempts).Count(ctx)
	return n == 1, translate(err)
}

// MarkSent records that the message claimed with attempts was sent, and
// wipes its payload (it holds a live link). It returns portal.ErrNotFound
// when the claim was lost (the lease ran out and another claim followed).
func (s *DB) MarkSent(ctx context.Context, id string, attempts int, now time.Time) error {
	res, err := claimed(s.idb.NewUpdate().Table("outbox").
		Set("status = ?", OutboxSent).Set("sent_at = ?", now).Set("payload = NULL").Set("last_error = ''"),
		id, attempts).Exec(ctx)
	return affectedOne(res, err)
}

// Retry gives the claimed message back to be tried again at next, noting
// why this attempt failed. portal.ErrNotFound: the claim was lost.
func (s *DB) Retry(ctx context.Context, id string, attempts int, next time.Time, errText string) error {
	res, err := claimed(s.idb.NewUpdate().Table("outbox").
		Set("next_attempt_at = ?", next).Set("last_error = ?", clip(errText)),
		id, attempts).Exec(ctx)
	return affectedOne(res, err)
}

// Fail gives up on the claimed message: it ends failed with errText, and
// its payload is wiped. portal.ErrNotFound: the claim was lost.
func (s *DB) Fail(ctx context.Context, id string, attempts int, now time.Time, errText string) error {
	res, err := claimed(s.idb.NewUpdate().Table("outbox").
		Set("status = ?", OutboxFailed).Set("next_attempt_at = ?", now).Set("payload = NULL").
		Set("last_error = ?", clip(errText)),
		id, attempts).Exec(ctx)
	return affectedOne(res, err)
}

// Release gives back a claimed message that was not tried (the worker is
// stopping): it is due again at now and the claim does not count as an
// attempt. portal.ErrNotFound: the claim was lost.
func (s *DB) Release(ctx context.Context, id string, attempts int, now time.Time) error {
	res, err := claimed(s.idb.NewUpdate().Table("outbox").
		Set("next_attempt_at = ?", now).Set("attempts = attempts - 1"),
		id, attempts).Exec(ctx)
	return affectedOne(res, err)
}

// clip bounds an error text stored in last_error.
func clip(s string) string {
	const limit = 1000
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "")
}

// DeliveryState is how the latest invitation email of a user fared.
type DeliveryState struct {
	// SentAt is when it was handed to the mail server; nil while it is
	// waiting (or failed).
	SentAt *time.Time
	// Failed: delivery was given up after the last attempt.
	Failed bool
}

// InvitationDelivery reports the state of the latest invitation email of
// each of userIDs. Users with no invitation email are left out of the map.
func (s *DB) InvitationDelivery(ctx context.Context, userIDs []string) (map[string]DeliveryState, error) {
	out := make(map[string]DeliveryState, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	if s.postgres {
		return s.pgDelivery(ctx, userIDs)
	}
	var rows []struct {
		UserID string     `bun:"user_id"`
		Status string     `bun:"status"`
		SentAt *time.Time `bun:"sent_at"`
	}
	err := s.idb.NewRaw(`SELECT user_id, status, sent_at FROM (
		SELECT user_id, status, sent_at,
			ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY created_at DESC, id DESC) AS n
		FROM outbox WHERE kind = ? AND user_id IN (?)) latest
		WHERE n = 1`, string(portal.EmailInvitation), bun.In(userIDs)).Scan(ctx, &rows)
	if err != nil {
		return nil, translate(err)
	}
	for _, r := range rows {
		out[r.UserID] = DeliveryState{SentAt: utcPtr(r.SentAt), Failed: r.Status == OutboxFailed}
	}
	return out, nil
}

// CancelEmails cancels the user's unsent emails of the given kinds (every
// kind when none is given) and wipes their payloads.
func (s *DB) CancelEmails(ctx context.Context, userID string, kinds ...portal.EmailKind) error {
	q := s.idb.NewUpdate().Table("outbox").Set("status = ?", OutboxCancelled).Set("payload = NULL").
		Where("user_id = ? AND status = ?", userID, OutboxPending)
	if len(kinds) > 0 {
		ks := make([]string, len(kinds))
		for i, k := range kinds {
			ks[i] = string(k)
		}
		q = q.Where("kind IN (?)", bun.In(ks))
	}
	_, err := q.Exec(ctx)
	return translate(err)
}

// OutboxCounts counts the outbox's messages by status, for monitoring.
func (s *DB) OutboxCounts(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string `bun:"status"`
		N      int    `bun:"n"`
	}
	if err := s.idb.NewSelect().Table("outbox").ColumnExpr("status, count(*) AS n").Group("status").Scan(ctx, &rows); err != nil {
		return nil, translate(err)
	}
	out := map[string]int{OutboxPending: 0, OutboxSent: 0, OutboxFailed: 0, OutboxCancelled: 0}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}
