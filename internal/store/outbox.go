package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/portal"
)

// Outbox message states.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
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
