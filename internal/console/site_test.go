package console_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/console"
	"github.com/clientportal/portal/internal/portal"

	bt "github.com/clientportal/portal/internal/browsertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	bt.Shutdown()
	os.Exit(code)
}

// site is the console and the API on one origin, as server.go serves them,
// on the embedded default (SQLite + in-process sessions) with a fake clock.
type site struct {
	*graphtest.Env
	URL string

	mu  sync.Mutex
	ops []string // GraphQL requests seen, by operation name
}

func newSite(t *testing.T, o console.Options, opts ...graphtest.Option) *site {
	t.Helper()
	s := &site{Env: graphtest.New(t, graphtest.SQLiteMemory, opts...)}
	api := s.Env.Server.Config.Handler
	web := console.Handler(o)
	mux := http.NewServeMux()
	mux.Handle("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ops = append(s.ops, r.Method)
		s.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	mux.Handle("GET /{$}", web)
	mux.Handle("GET /accept-invitation", web)
	mux.Handle("GET /reset-password", web)
	mux.Handle("GET /assets/", web)
	playground := graph.Playground("/graphql")
	mux.Handle("GET /graphiql", playground)
	mux.Handle("GET /graphiql/assets/", playground)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// apiCalls is how many requests /graphql has had.
func (s *site) apiCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ops)
}

// code is a fresh TOTP code for secret: the fake clock moves one step on,
// so that no code is ever used twice.
func (s *site) code(t *testing.T, secret string) string {
	t.Helper()
	s.Clock.Advance(30 * time.Second)
	c, err := portal.TOTPCode(secret, s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signIn signs email in through the console's sign-in page, enrolling 2FA
// from the secret the page shows when the account has none yet (the
// secret is then remembered in secrets). It waits for the overview.
func (s *site) signIn(t *testing.T, p *bt.Page, email string, secrets map[string]string) {
	t.Helper()
	s.signInWith(t, p, email, graphtest.Password, secrets)
}

// signInWith is signIn with another password.
func (s *site) signInWith(t *testing.T, p *bt.Page, email, password string, secrets map[string]string) {
	t.Helper()
	p.See(bt.Heading("Sign in"))
	p.Fill("Email", email)
	p.Fill("Password", password)
	p.Click(bt.Button("Sign in"))
	p.See("//h1[normalize-space(.)='Two-factor authentication' or normalize-space(.)='Set up two-factor authentication']")
	if p.Count(bt.Heading("Set up two-factor authentication")) == 1 {
		qr := p.Attr("//img[@alt='QR code for your authenticator app']", "src")
		if !strings.HasPrefix(qr, "data:image/png;base64,") {
			t.Fatalf("enrolment QR code src = %.40q", qr)
		}
		secrets[strings.ToLower(email)] = p.TextOf(bt.Labelled("Secret key"))
	}
	secret := secrets[strings.ToLower(email)]
	if secret == "" {
		secret = s.Secret(email)
	}
	p.Fill("Authentication code", s.code(t, secret))
	p.Click("//button[normalize-space(.)='Verify' or normalize-space(.)='Confirm and sign in']")
	p.See(bt.Heading("User management"))
}
