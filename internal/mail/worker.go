package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/clientportal/portal/internal/portal"
)

// OutboxMessage is a claimed outbox message: its sealed payload opened.
type OutboxMessage struct {
	ID        string
	Kind      portal.EmailKind
	Recipient string
	// Attempts counts claims of this message including the current one
	// (1 on the first try). It is also the claim's fencing token: MarkSent,
	// Retry, Fail and Release act only while it is unchanged.
	Attempts int
	Email    portal.Email
	// Err is set when the payload can't be opened (missing, corrupt, or
	// sealed under another key); Email is then zero and the message can
	// never be sent.
	Err error
}

// Outbox is the store side of delivery, implemented by *store.DB. A claim
// leases messages to one worker, which renews the lease while it works on
// them; the other methods record the outcome and act only while that
// claim still holds (the attempts count is its fencing token), else they
// return portal.ErrNotFound.
type Outbox interface {
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxMessage, error)
	// Renew extends the claim's lease to until.
	Renew(ctx context.Context, id string, attempts int, until time.Time) error
	Held(ctx context.Context, id string, attempts int) (bool, error)
	MarkSent(ctx context.Context, id string, attempts int, now time.Time) error
	Retry(ctx context.Context, id string, attempts int, next time.Time, errText string) error
	Fail(ctx context.Context, id string, attempts int, now time.Time, errText string) error
	Release(ctx context.Context, id string, attempts int, now time.Time) error
}

// Options tune a Worker. Zero fields take the defaults shown.
type Options struct {
	// Poll is how often the worker looks for due messages when nobody
	// calls Notify (10s).
	Poll time.Duration
	// Batch is how many messages one round claims (10).
	Batch int
	// Lease is how long a claim keeps other workers off a message unless
	// it is renewed (20s). The worker renews the claims of its round every
	// quarter of it while the round lasts, however long the sends take, so
	// a live worker keeps its messages and a dead one's go to another
	// worker once its lease lapses: delivery is at-least-once.
	Lease time.Duration
	// SendTimeout cuts off one send (30s).
	SendTimeout time.Duration
	// MaxAttempts, when above 0, is how many tries a message gets before
	// it is marked failed. By default there is no such cap: a message is
	// retried until the link it carries expires, so an SMTP outage
	// shorter than the link's lifetime delays emails and loses none.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff between tries (5s, 15m):
	// see Backoff.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Poll, 10*time.Second)
	def(&o.Lease, 20*time.Second)
	def(&o.SendTimeout, 30*time.Second)
	def(&o.BaseDelay, 5*time.Second)
	def(&o.MaxDelay, 15*time.Minute)
	if o.Batch <= 0 {
		o.Batch = 10
	}
	return o
}

// bookkeepingTimeout bounds recording an outcome in the database. Those
// writes don't use the caller's context: a send that finished during
// shutdown must still be recorded.
const bookkeepingTimeout = 10 * time.Second

// Worker delivers outbox messages. Several workers (in several processes)
// may share one PostgreSQL database; with SQLite run one.
type Worker struct {
	outbox Outbox
	sender Sender
	clock  portal.Clock
	opts   Options
	log    *slog.Logger
	wake   chan struct{}
}

// NewWorker returns a worker that delivers the messages of outbox through
// sender. log gets one line per outcome with the message id, kind,
// recipient domain, attempt and error, never the link or the payload.
func NewWorker(outbox Outbox, sender Sender, clock portal.Clock, opts Options, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.Default()
	}
	return &Worker{outbox: outbox, sender: sender, clock: clock, opts: opts.withDefaults(),
		log: log, wake: make(chan struct{}, 1)}
}

// Notify wakes a running worker to look for due messages now instead of
// at the next poll. It never blocks; call it after enqueuing an email.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers messages until ctx is cancelled, then returns nil once the
// send in flight (if any) has finished and been recorded; messages it had
// claimed but not tried are given back. Database errors are logged and
// retried at the next poll.
func (w *Worker) Run(ctx context.Context) error {
	for {
		_, full, err := w.tick(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log.ErrorContext(ctx, "email delivery round failed", "error", err)
		} else if full {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-time.After(w.opts.Poll):
		}
	}
}

// Tick runs one round: it claims up to Batch due messages and tries each
// once, and returns how many were sent. A failed send is not an error (it
// is retried later, or marked failed); errors are those of the database.
func (w *Worker) Tick(ctx context.Context) (sent int, err error) {
	sent, _, err = w.tick(ctx)
	return sent, err
}

func (w *Worker) tick(ctx context.Context) (sent int, full bool, err error) {
	msgs, err := w.outbox.Claim(ctx, w.clock.Now(), w.opts.Batch, w.opts.Lease)
	if err != nil {
		return 0, false, fmt.Errorf("claim outbox messages: %w", err)
	}
	if len(msgs) == 0 {
		return 0, false, nil
	}
	r := newRound(msgs)
	stop := w.keepClaims(ctx, r)
	defer stop()
	var errs []error
	for i, m := range msgs {
		if ctx.Err() != nil { // shutting down
			errs = append(errs, w.release(ctx, r, msgs[i:]))
			break
		}
		ok, err := w.deliver(ctx, r, m)
		if ok {
			sent++
		}
		errs = append(errs, err)
	}
	return sent, len(msgs) == w.opts.Batch, errors.Join(errs...)
}

// round is the set of claims of one tick that are still open: claimed and
// not yet resolved (sent, retried, failed or released). Its lock orders
// renewals and resolutions, so a renewal never lands on a message after
// its outcome was recorded (which would move a retry's time).
type round struct {
	mu   sync.Mutex
	open map[string]int // id -> the claim's attempts
}

func newRound(msgs []OutboxMessage) *round {
	r := &round{open: make(map[string]int, len(msgs))}
	for _, m := range msgs {
		r.open[m.ID] = m.Attempts
	}
	return r
}

// resolve closes m's claim by running record (MarkSent, Retry, ...).
func (r *round) resolve(m OutboxMessage, record func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, m.ID)
	return record()
}

// keepClaims renews the round's open claims every quarter lease until the
// returned stop is called (and has waited for a renewal in progress).
func (w *Worker) keepClaims(ctx context.Context, r *round) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(w.opts.Lease/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			w.renew(ctx, r)
		}
	})
	return func() { close(done); wg.Wait() }
}

func (w *Worker) renew(ctx context.Context, r *round) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(w.opts.Lease/4, 100*time.Millisecond))
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	until := w.clock.Now().Add(w.opts.Lease)
	for id, attempts := range r.open {
		err := w.outbox.Renew(bctx, id, attempts, until)
		switch {
		case errors.Is(err, portal.ErrNotFound):
			// Cancelled, or the lease lapsed and another worker has it:
			// deliver's Held check will find that before sending.
			delete(r.open, id)
		case err != nil:
			w.log.WarnContext(ctx, "renew email claim failed; another worker may send it too", "id", id, "error", err)
		}
	}
}

// errLinkExpired: the email was not delivered before its link expired;
// sending it now would only deliver a dead link.
var errLinkExpired = errors.New("the link expired before the email could be delivered")

// deliver tries one claimed message and records the outcome. ok: it was sent.
func (w *Worker) deliver(ctx context.Context, r *round, m OutboxMessage) (ok bool, err error) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	log := w.log.With("id", m.ID, "kind", string(m.Kind), "domain", domain(m.Recipient), "attempt", m.Attempts)

	if m.Err != nil {
		return false, w.fail(bctx, r, log, m, m.Err)
	}
	if exp := m.Email.ExpiresAt; !exp.IsZero() && !w.clock.Now().Before(exp) {
		return false, w.fail(bctx, r, log, m, errLinkExpired)
	}
	msg, err := Render(m.Email)
	if err != nil {
		return false, w.fail(bctx, r, log, m, err) // it would fail the same way every time
	}
	// The Message-ID is the outbox id's: a copy sent again after a crash
	// (delivery is at-least-once) is recognisably the same email.
	msg.ID = m.ID
	// A message claimed with others may have been cancelled (its link
	// revoked) while those were sent: look again just before sending.
	if held, err := w.outbox.Held(bctx, m.ID, m.Attempts); err != nil {
		return false, fmt.Errorf("check email %s: %w", m.ID, err)
	} else if !held {
		_ = r.resolve(m, func() error { return nil }) // not ours any more
		log.InfoContext(ctx, "email not sent: cancelled or claimed elsewhere")
		return false, nil
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.SendTimeout)
	err = w.sender.Send(sctx, msg)
	scancel()
	if err == nil {
		err := r.resolve(m, func() error { return w.outbox.MarkSent(bctx, m.ID, m.Attempts, w.clock.Now()) })
		switch {
		case errors.Is(err, portal.ErrNotFound):
			log.WarnContext(ctx, "email sent after its claim ran out; it may be sent twice")
		case err != nil:
			log.ErrorContext(ctx, "email sent but not recorded; it will be sent again", "error", err)
			return true, fmt.Errorf("mark email %s sent: %w", m.ID, err)
		default:
			log.InfoContext(ctx, "email sent")
		}
		return true, nil
	}
	if w.opts.MaxAttempts > 0 && m.Attempts >= w.opts.MaxAttempts {
		return false, w.fail(bctx, r, log, m, err)
	}
	delay := Backoff(m.Attempts, w.opts.BaseDelay, w.opts.MaxDelay)
	log.WarnContext(ctx, "email not sent; will retry", "error", err, "retry_in", delay)
	return false, w.lost(log, "retry", r.resolve(m, func() error {
		return w.outbox.Retry(bctx, m.ID, m.Attempts, w.clock.Now().Add(delay), err.Error())
	}))
}

func (w *Worker) fail(ctx context.Context, r *round, log *slog.Logger, m OutboxMessage, cause error) error {
	log.ErrorContext(ctx, "email delivery failed; giving up", "error", cause)
	return w.lost(log, "fail", r.resolve(m, func() error { return w.outbox.Fail(ctx, m.ID, m.Attempts, w.clock.Now(), cause.Error()) }))
}

// release gives back claimed messages that were not tried.
func (w *Worker) release(ctx context.Context, r *round, msgs []OutboxMessage) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	var errs []error
	for _, m := range msgs {
		err := r.resolve(m, func() error { return w.outbox.Release(bctx, m.ID, m.Attempts, w.clock.Now()) })
		if err != nil && !errors.Is(err, portal.ErrNotFound) {
			errs = append(errs, fmt.Errorf("release email %s: %w", m.ID, err))
		}
	}
	return errors.Join(errs...)
}

// lost turns a lost claim (another worker has the message now) into a log
// line: not an error of this worker.
func (w *Worker) lost(log *slog.Logger, op string, err error) error {
	if errors.Is(err, portal.ErrNotFound) {
		log.Warn("email claim ran out before " + op + "; another worker has it")
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s email: %w", op, err)
	}
	return nil
}

// domain is the part of an address after the @, the most of a recipient
// the worker logs.
func domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// Backoff returns how long to wait after the attempt-th failed try
// (counting from 1): "full jitter", a uniformly random delay between 0 and
// min(limit, base·2^(attempt-1)). base must be positive.
func Backoff(attempt int, base, limit time.Duration) time.Duration {
	return rand.N(backoffCeiling(attempt, base, limit) + 1)
}

// backoffCeiling is min(limit, base·2^(attempt-1)), without overflow.
func backoffCeiling(attempt int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}
