package mail_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

const publicURL = "https://portal.example"

func smtpTo(t testing.TB, sk *sink) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP("smtp://"+sk.addr, "Acme Portal <portal@acme.example>", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testLogger returns a logger into buf, which the test checks for leaks.
func testLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func enqueue(t testing.TB, db *store.DB, e portal.Email, now time.Time) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx portal.Store) error { return tx.EnqueueEmail(context.Background(), &e, now) })
	if err != nil {
		t.Fatal(err)
	}
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func invitation(user, to, token string, now time.Time) portal.Email {
	return portal.Email{Kind: portal.EmailInvitation, UserID: user, To: to, ToName: "Bob",
		OrgName: "Acme", Inviter: "Ann", Link: publicURL + "/accept-invitation#token=" + token,
		ExpiresAt: now.Add(72 * time.Hour)}
}

type row struct {
	Status    string     `bun:"status"`
	Attempts  int        `bun:"attempts"`
	Payload   []byte     `bun:"payload"`
	LastError string     `bun:"last_error"`
	SentAt    *time.Time `bun:"sent_at"`
	UserID    string     `bun:"user_id"`
}

func rows(t testing.TB, db *store.DB) []row {
	t.Helper()
	var rs []row
	err := db.Bun().NewSelect().Table("outbox").Column("status", "attempts", "payload", "last_error", "sent_at", "user_id").
		OrderExpr("id").Scan(context.Background(), &rs)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func countStatus(t testing.TB, db *store.DB) map[string]int {
	n := map[string]int{}
	for _, r := range rows(t, db) {
		n[r.Status]++
	}
	return n
}

var linkRE = regexp.MustCompile(`https://\S+`)

func TestDeliveryRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		now := clock.Now()
		// A real invited user with a real token: the link in the email
		// must be the one that consumes it.
		org := &portal.Organization{Name: "Acme", CreatedAt: now}
		if err := db.CreateOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		u := &portal.User{OrgID: org.ID, Email: "bob@example.com", Name: "Bob", Role: access.Role("VIEWER"),
			Status: portal.StatusInvited, CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		token := newToken()
		hash := sha256.Sum256([]byte(token))
		err := db.InTx(ctx, func(tx portal.Store) error {
			if err := tx.CreateToken(ctx, &portal.Token{UserID: u.ID, Kind: portal.TokenInvitation, Hash: hash[:],
				ExpiresAt: now.Add(72 * time.Hour), CreatedAt: now}); err != nil {
				return err
			}
			e := invitation(u.ID, u.Email, token, now)
			return tx.EnqueueEmail(ctx, &e, now)
		})
		if err != nil {
			t.Fatal(err)
		}

		sk := newSink(t)
		var logs syncBuffer
		w := mail.NewWorker(db, smtpTo(t, sk), clock, mail.Options{}, testLogger(&logs))
		if n, err := w.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("Tick = %d, %v; want 1 sent", n, err)
		}
		msgs := sk.messages()
		if len(msgs) != 1 {
			t.Fatalf("sink got %d messages", len(msgs))
		}
		if msgs[0].From != "portal@acme.example" || len(msgs[0].To) != 1 || msgs[0].To[0] != "bob@example.com" {
			t.Fatalf("envelope %q -> %v", msgs[0].From, msgs[0].To)
		}
		p := parse(t, msgs[0].Data)
		if p.Subject != "You're invited to the Acme client portal" {
			t.Errorf("subject = %q", p.Subject)
		}
		if to := p.Header.Get("To"); to != `"Bob" <bob@example.com>` {
			t.Errorf("To = %q", to)
		}
		if !strings.Contains(p.HTML, "Acme") {
			t.Errorf("html part missing or wrong:\n%s", p.HTML)
		}
		// The Message-ID is derived from the outbox id, so a copy sent
		// again after a crash is recognisably the same message.
		var id string
		if err := db.Bun().NewSelect().Table("outbox").Column("id").Scan(ctx, &id); err != nil {
			t.Fatal(err)
		}
		if got, want := p.Header.Get("Message-Id"), "<"+id+"@acme.example>"; got != want {
			t.Errorf("Message-ID = %q, want %q", got, want)
		}
		link := linkRE.FindString(p.Text)
		got, ok := strings.CutPrefix(link, publicURL+"/accept-invitation#token=")
		if !ok {
			t.Fatalf("no invitation link in text:\n%s", p.Text)
		}
		gotHash := sha256.Sum256([]byte(got))
		if _, err := db.ConsumeToken(ctx, portal.TokenInvitation, gotHash[:], now); err != nil {
			t.Fatalf("the emailed link does not work: %v", err)
		}

		rs := rows(t, db)
		if len(rs) != 1 || rs[0].Status != store.OutboxSent || rs[0].Payload != nil || rs[0].SentAt == nil || rs[0].Attempts != 1 {
			t.Fatalf("outbox after sending = %+v", rs)
		}
		if n, err := w.Tick(ctx); err != nil || n != 0 {
			t.Fatalf("second Tick = %d, %v", n, err)
		}
		clock.Advance(time.Hour)
		if n, err := w.Tick(ctx); err != nil || n != 0 || len(sk.messages()) != 1 {
			t.Fatalf("later Tick = %d, %v, sink has %d", n, err, len(sk.messages()))
		}
		if strings.Contains(logs.String(), token) || !strings.Contains(logs.String(), "domain=example.com") {
			t.Fatalf("worker log leaks the token or lacks the domain:\n%s", logs.String())
		}
	})
}

func TestDeliverySurvivesOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		sk := newSink(t)
		sk.stop() // the server is down: connections are refused
		opts := mail.Options{Batch: 20, MaxAttempts: 100, BaseDelay: time.Second, MaxDelay: 20 * time.Second}
		var logs syncBuffer
		w := mail.NewWorker(db, smtpTo(t, sk), clock, opts, testLogger(&logs))
		const n = 50
		for i := range n {
			enqueue(t, db, invitation(fmt.Sprint("u", i), fmt.Sprintf("r%d@example.com", i), newToken(), clock.Now()), clock.Now())
		}
		// rounds ticks until nothing is due, then moves past every backoff.
		rounds := func(k int) {
			for range k {
				for {
					sent, err := w.Tick(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if sent == 0 && !anyDue(t, db, clock.Now()) {
						break
					}
				}
				clock.Advance(opts.MaxDelay + time.Millisecond)
			}
		}
		rounds(3)
		if got := countStatus(t, db); got[store.OutboxPending] != n || len(sk.messages()) != 0 {
			t.Fatalf("during the outage: %v", got)
		}
		sk.mode.Store(tempFail) // back, but answering 421
		sk.start()
		rounds(2)
		if got := countStatus(t, db); got[store.OutboxPending] != n || len(sk.messages()) != 0 {
			t.Fatalf("while the server answers 421: %v", got)
		}
		for _, r := range rows(t, db) {
			if r.Attempts != 5 || r.LastError == "" || r.Payload == nil {
				t.Fatalf("row after 5 failed attempts: %+v", r)
			}
		}
		sk.mode.Store(accept)
		rounds(2)
		if got := countStatus(t, db); got[store.OutboxSent] != n {
			t.Fatalf("after the outage: %v", got)
		}
		per := sk.perRecipient()
		if len(per) != n {
			t.Fatalf("%d recipients got mail, want %d", len(per), n)
		}
		for to, k := range per {
			if k != 1 {
				t.Errorf("%s got %d copies", to, k)
			}
		}
		if strings.Contains(logs.String(), "token=") {
			t.Fatalf("worker log leaks a link:\n%s", logs.String())
		}
	})
}

func anyDue(t testing.TB, db *store.DB, now time.Time) bool {
	n, err := db.Bun().NewSelect().Table("outbox").Where("status = ? AND next_attempt_at <= ?", store.OutboxPending, now).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestDeliveryGivesUp(t *testing.T) {
	for name, mode := range map[string]int32{"550 on RCPT": rejectRcpt, "554 after DATA": rejectData} {
		t.Run(name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clock := newClock()
				sk := newSink(t)
				sk.mode.Store(mode)
				opts := mail.Options{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 10 * time.Second}
				var logs syncBuffer
				w := mail.NewWorker(db, smtpTo(t, sk), clock, opts, testLogger(&logs))
				token := newToken()
				enqueue(t, db, invitation("u1", "bob@example.com", token, clock.Now()), clock.Now())
				for i := range opts.MaxAttempts {
					if got := countStatus(t, db); got[store.OutboxPending] != 1 {
						t.Fatalf("before attempt %d: %v", i+1, got)
					}
					if n, err := w.Tick(ctx); err != nil || n != 0 {
						t.Fatalf("Tick = %d, %v", n, err)
					}
					clock.Advance(opts.MaxDelay)
				}
				rs := rows(t, db)
				if len(rs) != 1 || rs[0].Status != store.OutboxFailed || rs[0].Attempts != 3 || rs[0].Payload != nil ||
					!strings.Contains(rs[0].LastError, fmt.Sprint(map[int32]int{rejectRcpt: 550, rejectData: 554}[mode])) {
					t.Fatalf("outbox = %+v", rs)
				}
				if n, err := w.Tick(ctx); err != nil || n != 0 {
					t.Fatalf("Tick after failing = %d, %v", n, err)
				}
				if got := countStatus(t, db); got[store.OutboxFailed] != 1 {
					t.Fatalf("failed message tried again: %v", got)
				}
				st, err := db.InvitationDelivery(ctx, []string{"u1"})
				if err != nil || !st["u1"].Failed || st["u1"].SentAt != nil {
					t.Fatalf("InvitationDelivery = %+v, %v", st, err)
				}
				if len(sk.messages()) != 0 {
					t.Fatalf("sink accepted %d messages", len(sk.messages()))
				}
				l := logs.String()
				if strings.Contains(l, token) || !strings.Contains(l, "giving up") || !strings.Contains(l, "attempt=3") {
					t.Fatalf("log:\n%s", l)
				}
			})
		})
	}
}

func TestTwoWorkersOnePostgres(t *testing.T) {
	url := storetest.NewPostgresURL(t)
	box := storetest.Box(t)
	var dbs [2]*store.DB
	for i := range dbs {
		db, err := store.Open(url, box)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		dbs[i] = db
	}
	clock := newClock()
	const n = 100
	for i := range n {
		enqueue(t, dbs[0], invitation(fmt.Sprint("u", i), fmt.Sprintf("r%d@example.com", i), newToken(), clock.Now()), clock.Now())
	}
	sk := newSink(t)
	var sent [2]atomic.Int64
	var wg sync.WaitGroup
	for i, db := range dbs {
		w := mail.NewWorker(db, smtpTo(t, sk), clock, mail.Options{Batch: 5}, slog.New(slog.DiscardHandler))
		wg.Go(func() {
			for {
				k, err := w.Tick(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				sent[i].Add(int64(k))
				if k == 0 && !anyDue(t, db, clock.Now()) {
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("worker 1 sent %d, worker 2 sent %d", sent[0].Load(), sent[1].Load())
	if total := sent[0].Load() + sent[1].Load(); total != n {
		t.Errorf("workers report %d sent, want %d", total, n)
	}
	per := sk.perRecipient()
	if len(per) != n {
		t.Fatalf("%d recipients got mail, want %d", len(per), n)
	}
	for to, k := range per {
		if k != 1 {
			t.Errorf("%s got %d copies", to, k)
		}
	}
	if got := countStatus(t, dbs[1]); got[store.OutboxSent] != n {
		t.Fatalf("outbox: %v", got)
	}
}

// blockingSender holds each send until the test releases it.
type blockingSender struct {
	started chan string
	release chan struct{}
	mu      sync.Mutex
	sent    []string
}

func (s *blockingSender) Send(ctx context.Context, m mail.Message) error {
	s.started <- m.To
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.sent = append(s.sent, m.To)
	s.mu.Unlock()
	return nil
}

// countingOutbox counts claims, so a test knows the worker went idle.
type countingOutbox struct {
	*store.DB
	claims atomic.Int64
}

func (o *countingOutbox) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]mail.OutboxMessage, error) {
	defer o.claims.Add(1)
	return o.DB.Claim(ctx, now, limit, lease)
}

func TestRunWakesOnNotifyAndFinishesSendOnShutdown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		ob := &countingOutbox{DB: db}
		snd := &blockingSender{started: make(chan string, 10), release: make(chan struct{})}
		w := mail.NewWorker(ob, snd, clock, mail.Options{Poll: time.Hour, Batch: 2}, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		waitFor(t, func() bool { return ob.claims.Load() >= 1 }) // first round found nothing

		enqueue(t, db, invitation("u1", "a@example.com", newToken(), clock.Now()), clock.Now())
		enqueue(t, db, invitation("u2", "b@example.com", newToken(), clock.Now()), clock.Now())
		w.Notify()
		w.Notify() // never blocks
		var first string
		select {
		case first = <-snd.started:
		case <-time.After(10 * time.Second):
			t.Fatal("Notify did not wake the worker")
		}
		cancel() // shut down while the first send is in flight
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) before the send in flight finished", err)
		case <-time.After(100 * time.Millisecond):
		}
		close(snd.release)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after shutdown")
		}
		if len(snd.sent) != 1 || snd.sent[0] != first {
			t.Fatalf("sent %v, want only %s", snd.sent, first)
		}
		// The first is recorded as sent; the second, claimed in the same
		// batch but not tried, is given back without using an attempt.
		got := map[string]row{}
		for _, r := range rows(t, db) {
			got[r.Status] = r
		}
		if s, p := got[store.OutboxSent], got[store.OutboxPending]; s.Attempts != 1 || s.Payload != nil || p.Attempts != 0 || !anyDue(t, db, clock.Now()) {
			t.Fatalf("outbox after shutdown: %+v", rows(t, db))
		}
	})
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("timed out")
		}
	}
}

func TestUnreadableMessageFailsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		enqueue(t, db, invitation("u1", "a@example.com", newToken(), clock.Now()), clock.Now())
		if _, err := db.Bun().NewUpdate().Table("outbox").Set("payload = ?", []byte("not sealed at all, not at all")).
			Where("1 = 1").Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		sk := newSink(t)
		w := mail.NewWorker(db, smtpTo(t, sk), clock, mail.Options{}, slog.New(slog.DiscardHandler))
		if n, err := w.Tick(context.Background()); err != nil || n != 0 {
			t.Fatalf("Tick = %d, %v", n, err)
		}
		if rs := rows(t, db); rs[0].Status != store.OutboxFailed || rs[0].LastError == "" {
			t.Fatalf("outbox = %+v", rs)
		}
	})
}

// With the default options there is no attempt cap: a day-long outage
// (far longer than ten backoffs) delays an invitation and loses nothing;
// only a message whose link has expired is given up.
func TestLongOutageLosesNothingUntilTheLinkExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		sk := newSink(t)
		sk.stop()
		w := mail.NewWorker(db, smtpTo(t, sk), clock, mail.Options{}, testLogger(&syncBuffer{}))
		enqueue(t, db, invitation("u1", "bob@example.com", newToken(), clock.Now()), clock.Now())
		reset := invitation("u2", "cat@example.com", newToken(), clock.Now())
		reset.Kind, reset.ExpiresAt = portal.EmailSelfServiceReset, clock.Now().Add(time.Hour)
		enqueue(t, db, reset, clock.Now())
		for elapsed := time.Duration(0); elapsed < 24*time.Hour; elapsed += 15 * time.Minute {
			if _, err := w.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(15 * time.Minute)
		}
		got := map[string]row{}
		for _, r := range rows(t, db) {
			got[r.UserID] = r
		}
		if got["u1"].Status != store.OutboxPending || got["u1"].Attempts < 20 {
			t.Fatalf("invitation after a day of outage: %+v (want pending, many attempts)", got["u1"])
		}
		if got["u2"].Status != store.OutboxFailed || !strings.Contains(got["u2"].LastError, "expired") {
			t.Fatalf("reset whose 1 h link expired: %+v (want failed: expired)", got["u2"])
		}
		sk.start()
		if n, err := w.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("Tick after the outage = %d, %v", n, err)
		}
		if per := sk.perRecipient(); per["bob@example.com"] != 1 || per["cat@example.com"] != 0 {
			t.Fatalf("delivered: %v", per)
		}
	})
}

// senderFunc is a mail.Sender made of a function (a stand-in SMTP server).
type senderFunc func(context.Context, mail.Message) error

func (f senderFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

// An email cancelled after it was claimed, while the worker was still
// sending the others of its batch, is not sent.
func TestCancelledWhileClaimedIsNotSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newClock()
		enqueue(t, db, invitation("u1", "bob@example.com", newToken(), clock.Now()), clock.Now())
		clock.Advance(time.Millisecond) // claimed in order: bob, then cat
		enqueue(t, db, invitation("u2", "cat@example.com", newToken(), clock.Now()), clock.Now())
		var sent []string
		sender := senderFunc(func(_ context.Context, m mail.Message) error {
			sent = append(sent, m.To)
			if m.To == "bob@example.com" { // meanwhile, cat is removed
				if err := db.CancelEmails(ctx, "u2"); err != nil {
					t.Error(err)
				}
			}
			return nil
		})
		w := mail.NewWorker(db, sender, clock, mail.Options{Batch: 2}, testLogger(&syncBuffer{}))
		if n, err := w.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("Tick = %d, %v", n, err)
		}
		if len(sent) != 1 || sent[0] != "bob@example.com" {
			t.Fatalf("sent to %v, want only bob", sent)
		}
		if got := countStatus(t, db); got[store.OutboxCancelled] != 1 || got[store.OutboxSent] != 1 {
			t.Fatalf("outbox: %v", got)
		}
	})
}

// A worker renews the lease of the messages it is working on, however
// long the sends take: another worker polling all the while claims none
// of them, and each is sent once.
func TestLeaseRenewedWhileSending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := portal.SystemClock{}
		for _, to := range []string{"a@example.com", "b@example.com"} {
			enqueue(t, db, invitation("u-"+to, to, newToken(), clock.Now()), clock.Now())
		}
		const lease = 400 * time.Millisecond
		held := &blockingSender{started: make(chan string, 10), release: make(chan struct{})}
		busy := mail.NewWorker(db, held, clock, mail.Options{Lease: lease}, slog.New(slog.DiscardHandler))
		var other []string
		var mu sync.Mutex
		idle := mail.NewWorker(db, senderFunc(func(_ context.Context, m mail.Message) error {
			mu.Lock()
			other = append(other, m.To)
			mu.Unlock()
			return nil
		}), clock, mail.Options{Lease: lease}, slog.New(slog.DiscardHandler))

		done := make(chan int, 1)
		go func() {
			n, err := busy.Tick(context.Background())
			if err != nil {
				t.Error(err)
			}
			done <- n
		}()
		<-held.started
		// Four leases long, the other worker finds nothing to claim.
		for start := time.Now(); time.Since(start) < 4*lease; time.Sleep(50 * time.Millisecond) {
			if n, err := idle.Tick(context.Background()); err != nil || n != 0 {
				t.Fatalf("the other worker sent %d (%v) while the first was busy", n, err)
			}
		}
		close(held.release)
		if n := <-done; n != 2 {
			t.Fatalf("busy worker sent %d, want 2", n)
		}
		if len(other) != 0 || len(held.sent) != 2 {
			t.Fatalf("busy worker sent %v, the other %v", held.sent, other)
		}
		if got := countStatus(t, db); got[store.OutboxSent] != 2 {
			t.Fatalf("outbox: %v", got)
		}
	})
}

// A worker that dies mid-batch (it claimed, and then nothing: no send, no
// renewal, no release) loses its messages to the next worker as soon as
// its lease has run out, not before.
func TestCrashedWorkersClaimLapses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := portal.SystemClock{}
		for _, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			enqueue(t, db, invitation("u-"+to, to, newToken(), clock.Now()), clock.Now())
		}
		const lease = 500 * time.Millisecond
		claimed := time.Now()
		if msgs, err := db.Claim(context.Background(), clock.Now(), 10, lease); err != nil || len(msgs) != 3 {
			t.Fatalf("Claim = %d, %v", len(msgs), err)
		}
		sk := newSink(t)
		w := mail.NewWorker(db, smtpTo(t, sk), clock, mail.Options{Lease: lease}, slog.New(slog.DiscardHandler))
		sent := 0
		for sent < 3 {
			n, err := w.Tick(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 && time.Since(claimed) < lease {
				t.Fatalf("sent %d messages %v after another worker claimed them", n, time.Since(claimed))
			}
			sent += n
			if time.Since(claimed) > 10*lease {
				t.Fatalf("only %d of 3 sent %v after the crash", sent, time.Since(claimed))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("sent %v after the dead worker's claim", time.Since(claimed).Round(time.Millisecond))
		for to, n := range sk.perRecipient() {
			if n != 1 {
				t.Errorf("%s got %d copies", to, n)
			}
		}
	})
}
