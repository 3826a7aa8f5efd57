package portal_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/session"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

// The service's own tests run on the embedded backends (SQLite and
// in-process sessions): the real adapters, no network, a fake clock.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// outbox is a mail.Sender that keeps what it is given, or refuses it.
type outbox struct {
	mu     sync.Mutex
	all    []mail.Message
	refuse bool
}

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refuse {
		return errors.New("550 mailbox unavailable")
	}
	o.all = append(o.all, m)
	return nil
}

type env struct {
	t        *testing.T
	svc      *portal.Service
	db       *store.DB
	sessions *session.Memory
	clock    *fakeClock
	cfg      portal.Config
	mail     *outbox
	worker   *mail.Worker
	secrets  map[string]string // email -> TOTP secret
	steps    map[string]int64  // email -> last TOTP step used
}

const password = "correct horse battery staple"

var roomy = portal.Limit{Rate: 10000, Burst: 10000, Period: time.Minute}

func newEnv(t *testing.T, opts ...func(*portal.Config)) *env {
	t.Helper()
	box := storetest.Box(t)
	cfg := portal.DefaultConfig()
	cfg.ResetFloor = 0
	cfg.Limits = portal.Limits{LoginPerAccount: roomy, LoginPerAccountAnyIP: roomy, LoginPerIP: roomy,
		TwoFactorPerAccount: roomy, ResetPerAccount: roomy, ResetPerIP: roomy, TokenPerIP: roomy}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{t: t, db: storetest.SQLite(t, box), sessions: session.NewMemory(5*time.Minute, 12*time.Hour),
		clock: &fakeClock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}, cfg: cfg, mail: &outbox{},
		secrets: map[string]string{}, steps: map[string]int64{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.svc = portal.New(cfg, e.db, e.sessions, session.NewMemoryLimiter(e.clock), e.clock, portal.NewHasher(2), box, quiet)
	e.worker = mail.NewWorker(e.db, e.mail, e.clock, mail.Options{MaxAttempts: 1}, quiet)
	return e
}

func bg() context.Context { return context.Background() }

// as is a request context carrying the session of token.
func (e *env) as(token string) context.Context {
	e.t.Helper()
	v, err := e.svc.Authenticate(bg(), token)
	if err != nil {
		e.t.Fatalf("Authenticate: %v", err)
	}
	return portal.WithViewer(bg(), v)
}

// link delivers the outbox and returns the token of the latest link to
// address whose path contains path.
func (e *env) link(address, path string) string {
	e.t.Helper()
	for {
		n, err := e.worker.Tick(bg())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	e.mail.mu.Lock()
	defer e.mail.mu.Unlock()
	for i := len(e.mail.all) - 1; i >= 0; i-- {
		m := e.mail.all[i]
		if strings.EqualFold(m.To, address) && strings.Contains(m.Link, "/"+path+"#token=") {
			_, tok, _ := strings.Cut(m.Link, "#token=")
			return tok
		}
	}
	e.t.Fatalf("no %s email to %s", path, address)
	return ""
}

// org creates an organisation whose Super Admin has signed in, and
// returns their session token and user.
func (e *env) org(name, email string) (string, *portal.User) {
	e.t.Helper()
	_, u, link, err := e.svc.CreateOrganization(bg(), name, email, "Super "+name)
	if err != nil {
		e.t.Fatal(err)
	}
	_, tok, _ := strings.Cut(link, "#token=")
	if _, err := e.svc.AcceptInvitation(bg(), tok, password); err != nil {
		e.t.Fatal(err)
	}
	return e.signIn(email), u
}

// member invites a user as admin, accepts and signs them in.
func (e *env) member(admin, email string, role access.Role) (string, *portal.User) {
	e.t.Helper()
	u, err := e.svc.CreateUser(e.as(admin), email, "Name of "+email, role)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.AcceptInvitation(bg(), e.link(email, "accept-invitation"), password); err != nil {
		e.t.Fatal(err)
	}
	return e.signIn(email), u
}

// startLogin checks the password and returns the waiting session's token.
func (e *env) startLogin(email string) *portal.LoginResult {
	e.t.Helper()
	res, err := e.svc.Login(bg(), email, password)
	if err != nil {
		e.t.Fatalf("Login(%s): %v", email, err)
	}
	if res.Secret != "" {
		e.secrets[strings.ToLower(email)] = res.Secret
	}
	return res
}

// code is a valid TOTP code for email that was not used before.
func (e *env) code(email string) string {
	e.t.Helper()
	key := strings.ToLower(email)
	if e.clock.Now().Unix()/30 <= e.steps[key] {
		e.clock.Advance(30 * time.Second)
	}
	e.steps[key] = e.clock.Now().Unix() / 30
	c, err := portal.TOTPCode(e.secrets[key], e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) signIn(email string) string {
	e.t.Helper()
	waiting := e.startLogin(email)
	res, err := e.svc.VerifyTwoFactor(e.as(waiting.Token), e.code(email))
	if err != nil || res.Step != portal.StepSignedIn {
		e.t.Fatalf("VerifyTwoFactor(%s) = %+v, %v", email, res, err)
	}
	return res.Token
}

// user reads a user straight from the store.
func (e *env) user(id string) *portal.User {
	e.t.Helper()
	u, err := e.db.UserByID(bg(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// audit returns the organisation's audit actions, newest first.
func (e *env) audit(orgID string) []portal.AuditAction {
	e.t.Helper()
	entries, err := e.db.ListAudit(bg(), orgID, portal.AuditQuery{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]portal.AuditAction, len(entries))
	for i, a := range entries {
		out[i] = a.Action
	}
	return out
}

// wantKind fails the test unless err is a domain error of kind k.
func wantKind(t *testing.T, what string, err error, k portal.Kind) {
	t.Helper()
	if portal.KindOf(err) != k {
		t.Fatalf("%s: %v (kind %s), want %s", what, err, portal.KindOf(err), k)
	}
}

// dead fails the test unless token's session is gone.
func (e *env) dead(token string) {
	e.t.Helper()
	if _, err := e.svc.Authenticate(bg(), token); !errors.Is(err, portal.ErrNoSession) {
		e.t.Fatalf("session still alive (%v)", err)
	}
}
