// Package graphtest runs the whole API over HTTP for tests: the real
// GraphQL handler, permission service, store and session store, on either
// SQLite + in-process sessions or PostgreSQL + Redis. Only the clock is
// fake, and emails are captured from the real outbox worker instead of
// going to an SMTP server.
package graphtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/session"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

// Backends: the embedded default and production.
const (
	SQLiteMemory  = "sqlite+memory"
	PostgresRedis = "postgres+redis"
)

// Backends lists the backends Each runs on: both, or only SQLiteMemory
// when the environment variable PORTAL_TEST_BACKENDS is "embedded" (the
// quick local loop, `make test-quick`, which needs neither PostgreSQL nor
// Redis; CI and `make test` run both).
var Backends = backends(os.Getenv("PORTAL_TEST_BACKENDS"))

func backends(only string) []string {
	if only == "embedded" {
		return []string{SQLiteMemory}
	}
	return []string{SQLiteMemory, PostgresRedis}
}

// Clock is a fake clock that tests move by hand. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at a fixed time aligned to a TOTP step.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)} }

// Now returns the fake time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Env is one running API with its own database and session namespace.
type Env struct {
	T        testing.TB
	Backend  string
	Server   *httptest.Server
	Service  *portal.Service
	DB       *store.DB
	Sessions portal.SessionStore
	Clock    *Clock
	Config   portal.Config
	worker   *mail.Worker
	sent     *capture

	mu      sync.Mutex
	secrets map[string]string // email -> TOTP secret
	steps   map[string]int64  // email -> last TOTP step used
}

// Option changes the service configuration before the Env starts.
type Option func(*portal.Config)

// RedisURL is the Redis server used by tests.
func RedisURL() string {
	if u := os.Getenv("PORTAL_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// generous limits keep throttling out of tests that aren't about it.
var generous = portal.Limits{
	LoginPerAccount:      portal.Limit{Rate: 1000, Burst: 1000, Period: time.Minute},
	LoginPerAccountAnyIP: portal.Limit{Rate: 1000, Burst: 1000, Period: time.Minute},
	LoginPerIP:           portal.Limit{Rate: 100000, Burst: 100000, Period: time.Minute},
	TwoFactorPerAccount:  portal.Limit{Rate: 1000, Burst: 1000, Period: time.Minute},
	ResetPerAccount:      portal.Limit{Rate: 1000, Burst: 1000, Period: time.Minute},
	ResetPerIP:           portal.Limit{Rate: 100000, Burst: 100000, Period: time.Minute},
	TokenPerIP:           portal.Limit{Rate: 100000, Burst: 100000, Period: time.Minute},
}

// New starts an Env on backend.
func New(tb testing.TB, backend string, opts ...Option) *Env {
	tb.Helper()
	if !slices.Contains(Backends, backend) && backend == PostgresRedis {
		tb.Skip("PORTAL_TEST_BACKENDS=embedded: PostgreSQL+Redis skipped")
	}
	box := storetest.Box(tb)
	clock := NewClock()
	cfg := portal.DefaultConfig()
	cfg.Limits = generous
	cfg.MaxWrongCodesPerDay = 1000
	cfg.ResetFloor = 0
	for _, o := range opts {
		o(&cfg)
	}
	e := &Env{T: tb, Backend: backend, Clock: clock, Config: cfg, sent: &capture{},
		secrets: map[string]string{}, steps: map[string]int64{}}
	idle, maxAge := 5*time.Minute, 12*time.Hour
	var limiter portal.Limiter
	switch backend {
	case SQLiteMemory:
		e.DB = storetest.SQLite(tb, box)
		e.Sessions = session.NewMemory(idle, maxAge)
		limiter = session.NewMemoryLimiter(clock)
	case PostgresRedis:
		e.DB = storetest.Postgres(tb, box)
		opt, err := redis.ParseURL(RedisURL())
		if err != nil {
			tb.Fatal(err)
		}
		client := redis.NewClient(opt)
		prefix := "test:" + randomHex() + ":"
		tb.Cleanup(func() { cleanRedis(client, prefix); client.Close() })
		e.Sessions = session.NewRedis(client, prefix, idle, maxAge)
		limiter = session.NewRedisLimiter(client, prefix)
	default:
		tb.Fatalf("unknown backend %q", backend)
	}
	e.Service = portal.New(cfg, e.DB, e.Sessions, limiter, clock, portal.NewHasher(4), box, nil)
	e.worker = mail.NewWorker(e.DB, e.sent, clock, mail.Options{}, nil)
	// Loopback is a trusted proxy, so a test can speak for other client
	// addresses with X-Forwarded-For.
	e.Server = httptest.NewServer(graph.NewHandler(e.Service, graph.Options{Dev: true, CookieMaxAge: maxAge,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}))
	tb.Cleanup(e.Server.Close)
	return e
}

// Each runs fn as a subtest on both backends, each with a fresh Env.
func Each(t *testing.T, fn func(t *testing.T, e *Env), opts ...Option) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) { fn(t, New(t, b, opts...)) })
	}
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func cleanRedis(c *redis.Client, prefix string) {
	ctx := context.Background()
	for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	}
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response.
type Response struct {
	Data    json.RawMessage `json:"data"`
	Errors  []Error         `json:"errors"`
	Status  int             `json:"-"`
	Cookies []*http.Cookie  `json:"-"`
}

// Code is the extensions.code of the first error, or "" without errors.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Field is the extensions.field of the first error.
func (r *Response) Field() string {
	if len(r.Errors) == 0 {
		return ""
	}
	f, _ := r.Errors[0].Extensions["field"].(string)
	return f
}

// Decode unmarshals data into v, failing the test on errors.
func (r *Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if len(r.Errors) > 0 {
		tb.Fatalf("unexpected GraphQL errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Data, err)
	}
}

// Post sends one GraphQL operation with a bearer token ("" for none).
func (e *Env) Post(token, query string, vars map[string]any) *Response {
	e.T.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Send(req)
}

// Send sends a prepared request and parses the GraphQL response.
func (e *Env) Send(req *http.Request) *Response {
	e.T.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &Response{Status: res.StatusCode, Cookies: res.Cookies()}
	if err := json.Unmarshal(raw, r); err != nil {
		e.T.Fatalf("status %d, body %q: %v", res.StatusCode, raw, err)
	}
	return r
}

// MustPost is Post that fails the test on any GraphQL error and decodes data into v.
func (e *Env) MustPost(token, query string, vars map[string]any, v any) {
	e.T.Helper()
	r := e.Post(token, query, vars)
	r.Decode(e.T, v)
}

// capture is a mail.Sender that keeps what it is given.
type capture struct {
	mu  sync.Mutex
	all []mail.Message
}

func (c *capture) Send(_ context.Context, m mail.Message) error {
	c.mu.Lock()
	c.all = append(c.all, m)
	c.mu.Unlock()
	return nil
}

// Deliver runs the outbox worker until nothing is due and returns every
// message delivered so far.
func (e *Env) Deliver() []mail.Message {
	e.T.Helper()
	for {
		n, err := e.worker.Tick(context.Background())
		if err != nil {
			e.T.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	e.sent.mu.Lock()
	defer e.sent.mu.Unlock()
	return append([]mail.Message(nil), e.sent.all...)
}

// LinkToken delivers pending email and returns the token of the latest
// link sent to address whose path contains path ("accept-invitation" or
// "reset-password"); it fails the test when there is none.
func (e *Env) LinkToken(address, path string) string {
	e.T.Helper()
	msgs := e.Deliver()
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if strings.EqualFold(m.To, address) && strings.Contains(m.Link, "/"+path+"#token=") {
			_, tok, _ := strings.Cut(m.Link, "#token=")
			return tok
		}
	}
	e.T.Fatalf("no %s email to %s among %d messages", path, address, len(msgs))
	return ""
}

// Password is the password the helpers give every user.
const Password = "correct horse battery staple"

// CreateOrganization runs the operator command's service method and
// accepts the invitation; it returns the Super Admin's signed-in token.
func (e *Env) CreateOrganization(name, email string) (token, userID string) {
	e.T.Helper()
	_, u, _, err := e.Service.CreateOrganization(context.Background(), name, email, "Super "+name)
	if err != nil {
		e.T.Fatal(err)
	}
	e.Accept(email)
	return e.SignIn(email, Password), u.ID
}

// Accept accepts the latest invitation sent to email with Password.
func (e *Env) Accept(email string) {
	e.T.Helper()
	tok := e.LinkToken(email, "accept-invitation")
	var out struct{}
	e.MustPost("", `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id } } }`,
		map[string]any{"t": tok, "p": Password}, &out)
}

// Login runs the login mutation and returns its payload.
func (e *Env) Login(email, password string) *Response {
	return e.Post("", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step token enrollment { secret otpauthUrl } } }`,
		map[string]any{"e": email, "p": password})
}

// LoginPayload is login's answer.
type LoginPayload struct {
	Step       string `json:"step"`
	Token      string `json:"token"`
	Enrollment *struct {
		Secret     string `json:"secret"`
		OtpauthURL string `json:"otpauthUrl"`
	} `json:"enrollment"`
}

// StartLogin logs in with password and returns the waiting session's
// token, remembering an enrolment secret.
func (e *Env) StartLogin(email, password string) LoginPayload {
	e.T.Helper()
	var out struct{ Login LoginPayload }
	e.Login(email, password).Decode(e.T, &out)
	if out.Login.Enrollment != nil {
		e.mu.Lock()
		e.secrets[strings.ToLower(email)] = out.Login.Enrollment.Secret
		e.mu.Unlock()
	}
	return out.Login
}

// Code returns a valid, unused TOTP code for email, moving the clock on
// by one step when the current step was already used for that user.
func (e *Env) Code(email string) string {
	e.T.Helper()
	key := strings.ToLower(email)
	e.mu.Lock()
	secret, last := e.secrets[key], e.steps[key]
	e.mu.Unlock()
	if secret == "" {
		e.T.Fatalf("no TOTP secret known for %s", email)
	}
	if e.Clock.Now().Unix()/30 <= last {
		e.Clock.Advance(30 * time.Second)
	}
	now := e.Clock.Now()
	e.mu.Lock()
	e.steps[key] = now.Unix() / 30
	e.mu.Unlock()
	code, err := portal.TOTPCode(secret, now)
	if err != nil {
		e.T.Fatal(err)
	}
	return code
}

// Secret is the TOTP secret the helpers learnt for email.
func (e *Env) Secret(email string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.secrets[strings.ToLower(email)]
}

// Verify sends a code for a waiting session.
func (e *Env) Verify(token, code string) *Response {
	return e.Post(token, `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step token user { id email role } } }`,
		map[string]any{"c": code})
}

// SignIn logs in fully (password, enrolment when needed, TOTP) and returns
// the session token.
func (e *Env) SignIn(email, password string) string {
	e.T.Helper()
	waiting := e.StartLogin(email, password)
	var out struct {
		VerifyTwoFactor struct{ Step, Token string }
	}
	e.Verify(waiting.Token, e.Code(email)).Decode(e.T, &out)
	if out.VerifyTwoFactor.Step != "SIGNED_IN" {
		e.T.Fatalf("verifyTwoFactor step = %q", out.VerifyTwoFactor.Step)
	}
	return out.VerifyTwoFactor.Token
}

// Invite creates a user through the API as admin and returns the new id.
func (e *Env) Invite(adminToken, email, name, role string) string {
	e.T.Helper()
	var out struct {
		CreateUser struct{ User struct{ ID string } }
	}
	e.MustPost(adminToken, `mutation($e: String!, $n: String!, $r: Role!) { createUser(input: {email: $e, name: $n, role: $r}) { user { id } } }`,
		map[string]any{"e": email, "n": name, "r": role}, &out)
	return out.CreateUser.User.ID
}

// NewUser invites a user, accepts the invitation and signs them in; it
// returns the user's id and session token.
func (e *Env) NewUser(adminToken, email, name, role string) (id, token string) {
	e.T.Helper()
	id = e.Invite(adminToken, email, name, role)
	e.Accept(email)
	return id, e.SignIn(email, Password)
}

// Seed writes an ACTIVE user with Password straight into the database of
// the organisation orgID (for example a second Super Admin, which the API
// can never create) and returns its id.
func (e *Env) Seed(orgID, email, name, role string) string {
	e.T.Helper()
	return e.SeedUser(&portal.User{OrgID: orgID, Email: email, Name: name, Role: access.Role(role)})
}

// TryPost is Post for goroutines: it never fails the test (t.Fatal must
// not be called off the test's goroutine) and reports transport or
// decoding problems as an error instead.
func (e *Env) TryPost(token, query string, vars map[string]any) (*Response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: res.StatusCode, Cookies: res.Cookies()}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, &badBody{status: res.StatusCode, raw: raw, err: err}
	}
	return r, nil
}

type badBody struct {
	status int
	raw    []byte
	err    error
}

func (b *badBody) Error() string {
	return "status " + http.StatusText(b.status) + ", body " + string(b.raw) + ": " + b.err.Error()
}

func (b *badBody) Unwrap() error { return b.err }

// OrgOf returns the organisation id of a (live) user.
func (e *Env) OrgOf(userID string) string {
	e.T.Helper()
	u, err := e.DB.UserByID(context.Background(), userID)
	if err != nil {
		e.T.Fatal(err)
	}
	return u.OrgID
}

// seedHash is one argon2id hash of Password shared by SeedUser: a hash
// costs about 0.4 s under the race detector, so tests that seed many
// users compute it once per test binary.
var seedHash struct {
	once sync.Once
	hash string
	err  error
}

// SeedUser writes u straight into the database (no API, no audit, no
// email) and returns its id. Defaults: an ACTIVE user without a password
// hash gets Password; CreatedAt is the fake clock's time; the email is
// lower-cased. Unlike Seed it hashes Password only once per test binary,
// so it is cheap enough to seed hundreds of users.
func (e *Env) SeedUser(u *portal.User) string {
	e.T.Helper()
	if u.Status == "" {
		u.Status = portal.StatusActive
	}
	if u.Status == portal.StatusActive && u.PasswordHash == "" {
		seedHash.once.Do(func() {
			seedHash.hash, seedHash.err = portal.NewHasher(1).Hash(context.Background(), Password)
		})
		if seedHash.err != nil {
			e.T.Fatal(seedHash.err)
		}
		u.PasswordHash = seedHash.hash
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = e.Clock.Now()
	}
	u.Email = strings.ToLower(u.Email)
	if err := e.DB.CreateUser(context.Background(), u); err != nil {
		e.T.Fatal(err)
	}
	return u.ID
}
