package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

type outboxState struct {
	Status    string     `bun:"status"`
	Attempts  int        `bun:"attempts"`
	Payload   []byte     `bun:"payload"`
	LastError string     `bun:"last_error"`
	SentAt    *time.Time `bun:"sent_at"`
}

func outboxRow(t *testing.T, db *store.DB, id string) outboxState {
	t.Helper()
	var r outboxState
	err := db.Bun().NewSelect().Table("outbox").Column("status", "attempts", "payload", "last_error", "sent_at").
		Where("id = ?", id).Scan(context.Background(), &r)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testEmail(kind portal.EmailKind, user string, now time.Time) *portal.Email {
	return &portal.Email{Kind: kind, UserID: user, To: user + "@example.com", ToName: "User " + user,
		OrgName: "Acme", Inviter: "Ann", Link: "https://portal.example/accept-invitation#token=" + user,
		ExpiresAt: now.Add(72 * time.Hour)}
}

func enqueue(t *testing.T, db *store.DB, e *portal.Email, now time.Time) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx portal.Store) error { return tx.EnqueueEmail(context.Background(), e, now) })
	if err != nil {
		t.Fatal(err)
	}
}

func claim(t *testing.T, db *store.DB, now time.Time, limit int, lease time.Duration) []mail.OutboxMessage {
	t.Helper()
	msgs, err := db.Claim(context.Background(), now, limit, lease)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestOutboxClaimAndOutcomes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		lease := 5 * time.Minute
		for _, u := range []string{"a", "b", "c"} {
			enqueue(t, db, testEmail(portal.EmailInvitation, u, t0), t0)
		}
		if got := claim(t, db, t0.Add(-time.Second), 10, lease); len(got) != 0 {
			t.Fatalf("claimed %d messages before they were due", len(got))
		}
		first := claim(t, db, t0, 2, lease)
		if len(first) != 2 {
			t.Fatalf("claimed %d, want 2 (the limit)", len(first))
		}
		rest := claim(t, db, t0, 10, lease)
		if len(rest) != 1 {
			t.Fatalf("second claim got %d, want the 1 left", len(rest))
		}
		if got := claim(t, db, t0.Add(lease-time.Second), 10, lease); len(got) != 0 {
			t.Fatalf("claimed %d leased messages", len(got))
		}
		a, b, c := first[0], first[1], rest[0]
		want := testEmail(portal.EmailInvitation, "a", t0)
		if a.Err != nil || a.Attempts != 1 || a.Kind != portal.EmailInvitation || a.Recipient != "a@example.com" ||
			a.Email.Link != want.Link || a.Email.ToName != want.ToName || !a.Email.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("claimed %+v, want the first email opened, attempt 1", a)
		}

		// Sent: payload wiped; only the current claim may record it.
		if err := db.MarkSent(ctx, a.ID, 2, t0); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("MarkSent with a stale claim: %v, want ErrNotFound", err)
		}
		if err := db.MarkSent(ctx, a.ID, a.Attempts, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if r := outboxRow(t, db, a.ID); r.Status != store.OutboxSent || r.Payload != nil || r.SentAt == nil || !r.SentAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("sent row = %+v", r)
		}
		if err := db.MarkSent(ctx, a.ID, a.Attempts, t0); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("MarkSent twice: %v", err)
		}

		// Retry: due again at next, attempts counted, error kept.
		next := t0.Add(time.Minute)
		if err := db.Retry(ctx, b.ID, b.Attempts, next, "421 try later"); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, db, next.Add(-time.Millisecond), 10, lease); len(got) != 0 {
			t.Fatalf("claimed %d before the retry time", len(got))
		}
		again := claim(t, db, next, 10, lease)
		if len(again) != 1 || again[0].ID != b.ID || again[0].Attempts != 2 || again[0].Err != nil {
			t.Fatalf("retry claim = %+v", again)
		}
		if err := db.Retry(ctx, b.ID, 1, next, "stale"); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("Retry with a stale claim: %v", err)
		}
		if err := db.Fail(ctx, b.ID, 2, next, "550 no such user"); err != nil {
			t.Fatal(err)
		}
		if r := outboxRow(t, db, b.ID); r.Status != store.OutboxFailed || r.Payload != nil || r.LastError != "550 no such user" || r.Attempts != 2 {
			t.Fatalf("failed row = %+v", r)
		}

		// Release: due at once, the claim not counted.
		if err := db.Release(ctx, c.ID, c.Attempts, t0); err != nil {
			t.Fatal(err)
		}
		back := claim(t, db, t0, 10, lease)
		if len(back) != 1 || back[0].ID != c.ID || back[0].Attempts != 1 {
			t.Fatalf("released message claimed as %+v", back)
		}

		// An expired lease lets another claim take the message; the old
		// claim can no longer record anything.
		late := claim(t, db, t0.Add(lease), 10, lease)
		if len(late) != 1 || late[0].ID != c.ID || late[0].Attempts != 2 {
			t.Fatalf("claim after the lease ran out = %+v", late)
		}
		if err := db.MarkSent(ctx, c.ID, 1, t0); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("MarkSent by the expired claim: %v", err)
		}
	})
}

func TestOutboxRolledBackEmailIsNotQueued(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Now().UTC()
		boom := errors.New("boom")
		err := db.InTx(context.Background(), func(tx portal.Store) error {
			if err := tx.EnqueueEmail(context.Background(), testEmail(portal.EmailInvitation, "a", now), now); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if got := claim(t, db, now, 10, time.Minute); len(got) != 0 {
			t.Fatalf("rolled back email claimed: %d", len(got))
		}
	})
}

func TestOutboxUnreadablePayload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Now().UTC()
		enqueue(t, db, testEmail(portal.EmailInvitation, "a", now), now)
		enqueue(t, db, testEmail(portal.EmailInvitation, "b", now), now)
		// Swap the sealed payloads: each is bound to its own row's id.
		ctx := context.Background()
		if _, err := db.Bun().ExecContext(ctx, `UPDATE outbox SET payload = (SELECT o2.payload FROM outbox o2 WHERE o2.recipient = 'b@example.com') WHERE recipient = 'a@example.com'`); err != nil {
			t.Fatal(err)
		}
		msgs := claim(t, db, now, 10, time.Minute)
		if len(msgs) != 2 {
			t.Fatalf("claimed %d", len(msgs))
		}
		for _, m := range msgs {
			switch m.Recipient {
			case "a@example.com":
				if m.Err == nil || m.Email.Link != "" {
					t.Fatalf("moved payload opened: %+v", m)
				}
			default:
				if m.Err != nil {
					t.Fatalf("intact payload: %v", m.Err)
				}
			}
		}
	})
}

func TestInvitationDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		// Each step enqueues one email at its own time and settles it.
		settle := func(kind portal.EmailKind, user string, at time.Time, outcome string) {
			t.Helper()
			enqueue(t, db, testEmail(kind, user, at), at)
			msgs := claim(t, db, at, 1, time.Minute)
			if len(msgs) != 1 {
				t.Fatalf("claimed %d", len(msgs))
			}
			m := msgs[0]
			var err error
			switch outcome {
			case "sent":
				err = db.MarkSent(ctx, m.ID, m.Attempts, at.Add(time.Second))
			case "failed":
				err = db.Fail(ctx, m.ID, m.Attempts, at, "550")
			case "pending":
				err = db.Retry(ctx, m.ID, m.Attempts, at.Add(time.Hour), "421")
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		settle(portal.EmailInvitation, "u1", t0, "failed")
		settle(portal.EmailInvitation, "u1", t0.Add(time.Minute), "sent") // a resend that worked
		settle(portal.EmailInvitation, "u2", t0, "sent")
		settle(portal.EmailInvitation, "u2", t0.Add(time.Minute), "failed") // the latest failed
		settle(portal.EmailInvitation, "u3", t0, "pending")
		settle(portal.EmailAdminReset, "u4", t0, "failed") // not an invitation

		got, err := db.InvitationDelivery(ctx, []string{"u1", "u2", "u3", "u4", "u5"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("InvitationDelivery = %v, want u1..u3", got)
		}
		if s := got["u1"]; s.Failed || s.SentAt == nil || !s.SentAt.Equal(t0.Add(time.Minute+time.Second)) {
			t.Errorf("u1 = %s", show(s))
		}
		if s := got["u2"]; !s.Failed || s.SentAt != nil {
			t.Errorf("u2 = %s", show(s))
		}
		if s := got["u3"]; s.Failed || s.SentAt != nil {
			t.Errorf("u3 = %s", show(s))
		}
		if empty, err := db.InvitationDelivery(ctx, nil); err != nil || len(empty) != 0 {
			t.Fatalf("no users: %v, %v", empty, err)
		}
	})
}

func show(s store.DeliveryState) string {
	if s.SentAt == nil {
		return fmt.Sprintf("{SentAt: nil, Failed: %v}", s.Failed)
	}
	return fmt.Sprintf("{SentAt: %s, Failed: %v}", s.SentAt, s.Failed)
}

// Renew moves a held claim's lease on, and only a held claim's.
func TestOutboxRenew(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		lease := 20 * time.Second
		enqueue(t, db, testEmail(portal.EmailInvitation, "a", t0), t0)
		m := claim(t, db, t0, 10, lease)[0]
		// Renewed at +15s until +35s: not claimable at +25s, claimable at +35s.
		if err := db.Renew(ctx, m.ID, m.Attempts, t0.Add(35*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, db, t0.Add(25*time.Second), 10, lease); len(got) != 0 {
			t.Fatalf("claimed a renewed message (%d)", len(got))
		}
		again := claim(t, db, t0.Add(35*time.Second), 10, lease)
		if len(again) != 1 || again[0].Attempts != 2 {
			t.Fatalf("after the renewed lease: %+v", again)
		}
		// The first claim is lost: it can renew nothing any more.
		if err := db.Renew(ctx, m.ID, m.Attempts, t0.Add(time.Hour)); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("Renew of a lost claim: %v, want ErrNotFound", err)
		}
		if err := db.MarkSent(ctx, m.ID, again[0].Attempts, t0.Add(36*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := db.Renew(ctx, m.ID, again[0].Attempts, t0.Add(time.Hour)); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("Renew of a sent message: %v, want ErrNotFound", err)
		}
	})
}
