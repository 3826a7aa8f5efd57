package main

// Scale-out tests: several real server processes (this test binary run as
// `portal serve`) on one PostgreSQL database and a real Redis Cluster or
// Sentinel set-up started from redis-server (internal/redistest).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/clientportal/portal/internal/browsertest"
	"github.com/clientportal/portal/internal/config"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/redistest"
	"github.com/clientportal/portal/internal/store/storetest"
)

// childEnv marks a process started by startInstance: it runs the server
// instead of the tests.
const childEnv = "PORTAL_TEST_CHILD_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := run(context.Background(), []string{"serve"}, config.Environ(), os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "portal:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	browsertest.Shutdown() // the browser of the console tests (web_test.go)
	os.Exit(code)
}

// instance is one server process.
type instance struct {
	name string
	base string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// testKey is the encryption key every instance of a test shares.
const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// startInstances starts n server processes with env at the same moment
// and waits until each serves.
func startInstances(t *testing.T, n int, env map[string]string) []*instance {
	t.Helper()
	var all []*instance
	for i := range n {
		in := &instance{name: string(rune('A' + i)), logs: &syncBuffer{}, done: make(chan struct{})}
		in.cmd = exec.Command(os.Args[0])
		in.cmd.Env = []string{childEnv + "=1", "PORTAL_ADDR=127.0.0.1:0", "PORTAL_ENCRYPTION_KEY=" + testKey,
			"PORTAL_KEY_FILE=" + t.TempDir() + "/portal.key"}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "PORTAL_") {
				in.cmd.Env = append(in.cmd.Env, kv)
			}
		}
		for k, v := range env {
			in.cmd.Env = append(in.cmd.Env, k+"="+v)
		}
		in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
		all = append(all, in)
	}
	for _, in := range all {
		if err := in.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = in.cmd.Wait(); close(in.done) }()
		t.Cleanup(func() {
			in.stop()
			if t.Failed() {
				t.Logf("instance %s log (last 3000 bytes):\n%s", in.name, tailString(in.logs.String(), 3000))
			}
		})
	}
	addr := regexp.MustCompile(`msg=serving addr=(\S+)`)
	for _, in := range all {
		deadline := time.Now().Add(60 * time.Second)
		for {
			if m := addr.FindStringSubmatch(in.logs.String()); m != nil {
				in.base = "http://" + m[1]
				break
			}
			select {
			case <-in.done:
				t.Fatalf("instance %s exited: %v\n%s", in.name, in.cmd.ProcessState, in.logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %s did not start:\n%s", in.name, in.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return all
}

// stop ends the process gracefully (SIGTERM), or kills it after 10s.
func (in *instance) stop() {
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(10 * time.Second):
		in.kill()
	}
}

// kill ends the process with SIGKILL: no shutdown, nothing handed back.
func (in *instance) kill() {
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// answer is one GraphQL-over-HTTP response.
type answer struct {
	Status int
	Data   map[string]any
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

func (a *answer) code() string {
	if len(a.Errors) == 0 {
		return ""
	}
	return fmt.Sprint(a.Errors[0].Extensions["code"])
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// post sends one operation to base with a bearer token ("" for none).
func post(base, token, query string, vars map[string]any) (*answer, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := &answer{Status: res.StatusCode}
	if err := json.Unmarshal(raw, a); err != nil {
		return nil, fmt.Errorf("status %d, body %q: %w", res.StatusCode, raw, err)
	}
	return a, nil
}

// mustPost is post that fails the test on an error of any kind.
func mustPost(t *testing.T, base, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	a, err := post(base, token, query, vars)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Errors) > 0 {
		t.Fatalf("%s: %+v", query, a.Errors)
	}
	return a.Data
}

// unavailable reports whether a is the answer to a request that met an
// outage: 503 with SERVICE_UNAVAILABLE.
func (a *answer) unavailable() bool {
	return a.Status == http.StatusServiceUnavailable && a.code() == "SERVICE_UNAVAILABLE"
}

// mailSink is an SMTP server that records every message it accepts. While
// held, it keeps each message's DATA unanswered until released.
type mailSink struct {
	addr string
	mu   sync.Mutex
	msgs []sunk
	hold chan struct{} // nil: answer at once
	// arrived is signalled (without blocking) when a held message arrives.
	arrived chan struct{}
}

type sunk struct {
	To   string
	Data string
	At   time.Time
}

func newMailSink(t *testing.T) *mailSink {
	t.Helper()
	s := &mailSink{arrived: make(chan struct{}, 100)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }))
	srv.Domain = "sink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	go srv.Serve(l) //nolint:errcheck // ends at Close
	t.Cleanup(func() { l.Close(); srv.Close() })
	return s
}

// URL is the PORTAL_SMTP_URL of the sink.
func (s *mailSink) URL() string { return "smtp://" + s.addr }

func (s *mailSink) setHold(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on && s.hold == nil {
		s.hold = make(chan struct{})
	}
	if !on && s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

func (s *mailSink) messages() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.msgs...)
}

// link waits up to 30s for a message to address with a link containing
// path, and returns the link's token.
func (s *mailSink) link(t *testing.T, address, path string) string {
	t.Helper()
	re := regexp.MustCompile(path + `#token=([A-Za-z0-9_-]+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		msgs := s.messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].To != address {
				continue
			}
			// Undo quoted-printable soft breaks and "=" escapes.
			text := strings.NewReplacer("=\r\n", "", "=3D", "=").Replace(msgs[i].Data)
			if m := re.FindStringSubmatch(text); m != nil {
				return m[1]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s email to %s", path, address)
	return ""
}

type sinkSession struct {
	sink *mailSink
	to   string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	hold := s.sink.hold
	s.sink.mu.Unlock()
	if hold != nil {
		select {
		case s.sink.arrived <- struct{}{}:
		default:
		}
		<-hold
		// A sender killed while held never sees the answer: the message
		// is not accepted.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "held, not accepted"}
	}
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, sunk{To: s.to, Data: string(b), At: time.Now()})
	s.sink.mu.Unlock()
	return nil
}

func (s *sinkSession) Reset()        { s.to = "" }
func (s *sinkSession) Logout() error { return nil }

// org is an organisation on a shared database, with its Super Admin
// signed in on the first instance.
type org struct {
	sink       *mailSink
	adminToken string
	n          int
}

// newOrg creates organisation Acme with the operator command and signs
// its Super Admin in on base.
func newOrg(t *testing.T, env map[string]string, sink *mailSink, base string) *org {
	t.Helper()
	cli := map[string]string{"PORTAL_DATABASE_URL": env["PORTAL_DATABASE_URL"], "PORTAL_ENCRYPTION_KEY": testKey,
		"PORTAL_MIGRATE_ON_START": "false"}
	var out syncBuffer
	if err := run(context.Background(), []string{"create-organization", "--name", "Acme", "--admin-email", "ann@example.com",
		"--admin-name", "Ann"}, cli, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`#token=([A-Za-z0-9_-]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no invitation link in %q", out.String())
	}
	o := &org{sink: sink}
	accept(t, base, m[1])
	o.adminToken = enrolAndSignIn(t, base, "ann@example.com")
	return o
}

const testPassword = "correct horse battery staple"

func accept(t *testing.T, base, token string) {
	t.Helper()
	mustPost(t, base, "", `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id } } }`,
		map[string]any{"t": token, "p": testPassword})
}

// enrolAndSignIn logs a user with no authenticator yet in on base, enrolling one.
func enrolAndSignIn(t *testing.T, base, email string) string {
	t.Helper()
	data := mustPost(t, base, "", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token enrollment { secret } } }`,
		map[string]any{"e": email, "p": testPassword})
	login := data["login"].(map[string]any)
	secret := login["enrollment"].(map[string]any)["secret"].(string)
	code, err := portal.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data = mustPost(t, base, login["token"].(string), `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step token } }`,
		map[string]any{"c": code})
	return data["verifyTwoFactor"].(map[string]any)["token"].(string)
}

// newUser invites email as a Viewer through base, accepts the invitation
// that reaches the sink and signs the user in on base; it returns the
// user's id and session token.
func (o *org) newUser(t *testing.T, base, email string) (id, token string) {
	t.Helper()
	data := mustPost(t, base, o.adminToken, `mutation($e: String!) { createUser(input: {email: $e, name: "User", role: VIEWER}) { user { id } } }`,
		map[string]any{"e": email})
	id = data["createUser"].(map[string]any)["user"].(map[string]any)["id"].(string)
	accept(t, base, o.sink.link(t, email, "accept-invitation"))
	return id, enrolAndSignIn(t, base, email)
}

// me asks base who token's session belongs to.
func me(base, token string) (*answer, error) {
	return post(base, token, `{ me { email } }`, nil)
}

func meEmail(a *answer) string {
	m, _ := a.Data["me"].(map[string]any)
	e, _ := m["email"].(string)
	return e
}

func readyz(base string) int {
	res, err := httpClient.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// Five instances started at the same moment on an empty database all come
// up: the migrations run once, under the advisory lock.
func TestInstancesStartTogetherOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewPostgresURL(t)
	all := startInstances(t, 5, map[string]string{"PORTAL_DATABASE_URL": dbURL})
	applied := 0
	for _, in := range all {
		if code := readyz(in.base); code != http.StatusOK {
			t.Errorf("instance %s: /readyz = %d", in.name, code)
		}
		applied += strings.Count(in.logs.String(), "msg=\"applied migration\"")
	}
	var n int
	db := openSQL(t, dbURL)
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 || applied != n {
		t.Fatalf("instances logged %d applied migrations; the database has %d", applied, n)
	}
}

// Three instances on a six-node Redis Cluster share sessions: a login on
// one is valid on the others, a removal on one ends the session on the
// others before the mutation returns, and the sessions spread over the
// masters. Then a master is killed under a steady load of `me` requests:
// until its replica is promoted the requests for its sessions fail with
// SERVICE_UNAVAILABLE (never UNAUTHENTICATED, never INTERNAL) and /readyz
// is 503; within 2 s of the promotion everything succeeds again, and no
// session is lost.
func TestInstancesOnCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, redistest.ClusterOptions{NodeTimeout: 2 * time.Second})
	sink := newMailSink(t)
	env := map[string]string{"PORTAL_DATABASE_URL": storetest.NewPostgresURL(t), "PORTAL_REDIS_URL": cluster.URL(),
		"PORTAL_SMTP_URL": sink.URL()}
	all := startInstances(t, 3, env)
	a, b, c := all[0], all[1], all[2]
	o := newOrg(t, env, sink, a.base)

	t.Run("LoginOnAValidOnB", func(t *testing.T) {
		for _, in := range all {
			r, err := me(in.base, o.adminToken)
			if err != nil || meEmail(r) != "ann@example.com" {
				t.Fatalf("me on %s: %+v, %v", in.name, r, err)
			}
		}
	})
	t.Run("RemovalOnAEndsSessionOnB", func(t *testing.T) {
		id, token := o.newUser(t, a.base, "bob@example.com")
		if r, err := me(b.base, token); err != nil || meEmail(r) != "bob@example.com" {
			t.Fatalf("me on B before removal: %+v, %v", r, err)
		}
		// Bob keeps asking on B and C while Ann removes him on A: once
		// the mutation has returned, no instance accepts his session.
		mustPost(t, a.base, o.adminToken, `mutation($id: ID!) { removeUser(input: {userId: $id}) { removedUserId } }`,
			map[string]any{"id": id})
		for _, in := range []*instance{b, c, a} {
			r, err := me(in.base, token)
			if err != nil || r.code() != "UNAUTHENTICATED" {
				t.Fatalf("me on %s right after the removal: %+v, %v", in.name, r, err)
			}
		}
	})

	// Sessions for the load: several users, each signed in on another
	// instance.
	type user struct{ email, token string }
	users := []user{{"ann@example.com", o.adminToken}}
	for i := range 5 {
		email := fmt.Sprintf("user%d@example.com", i)
		_, tok := o.newUser(t, all[i%3].base, email)
		users = append(users, user{email, tok})
	}
	perMaster := map[string]int{}
	for _, sh := range cluster.Shards() {
		keys, err := sh.Master.Client().Keys(t.Context(), "portal:sess:s:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		perMaster[sh.Master.Addr] = len(keys)
	}
	t.Logf("sessions per master: %v", perMaster)

	t.Run("EachMasterKilledUnderLoad", func(t *testing.T) {
		type result struct {
			at, took time.Duration
			a        *answer
			err      error
			want     string
		}
		type probe struct {
			at   time.Duration
			code int
		}
		var mu sync.Mutex
		var results []result
		var ready []probe
		start := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					u := users[(g+i)%len(users)]
					in := all[rand.IntN(len(all))]
					begin := time.Since(start)
					r, err := me(in.base, u.token)
					mu.Lock()
					results = append(results, result{begin, time.Since(start) - begin, r, err, u.email})
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code := readyz(a.base)
				mu.Lock()
				ready = append(ready, probe{time.Since(start), code}) // when the answer came
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
		// Kill each of the three original masters in turn; its replica
		// takes over, and the killed node comes back as a replica.
		type window struct{ killed, promoted time.Duration }
		var windows []window
		for _, victim := range cluster.Shards() {
			time.Sleep(500 * time.Millisecond)
			killed := time.Since(start)
			victim.Master.Kill()
			cluster.WaitMaster(victim.Replicas[0].Addr, 30*time.Second)
			windows = append(windows, window{killed, time.Since(start)})
			t.Logf("master %s killed at %v; replica %s promoted %v later", victim.Master.Addr, killed.Round(time.Millisecond),
				victim.Replicas[0].Addr, (time.Since(start) - killed).Round(time.Millisecond))
			time.Sleep(2500 * time.Millisecond)
			// The dead node comes back and rejoins as the new master's
			// replica: the clients must cope with that too.
			victim.Master.Restart()
			cluster.WaitHealthy(30 * time.Second)
		}
		close(stop)
		wg.Wait()

		// in returns the outage window that [from, to] overlaps, or -1.
		in := func(from, to time.Duration) int {
			for i, w := range windows {
				if to >= w.killed && from <= w.promoted+2*time.Second {
					return i
				}
			}
			return -1
		}
		failed := make([]int, len(windows))
		lastFailure := make([]time.Duration, len(windows))
		var longest time.Duration
		for _, r := range results {
			longest = max(longest, r.took)
			if r.err != nil {
				t.Errorf("me at %v: %v", r.at, r.err)
				continue
			}
			if len(r.a.Errors) == 0 {
				if got := meEmail(r.a); got != r.want {
					t.Errorf("me at %v answered %q, want %q", r.at, got, r.want)
				}
				continue
			}
			if !r.a.unavailable() {
				t.Errorf("me at %v failed with %d %s %q, want SERVICE_UNAVAILABLE", r.at, r.a.Status, r.a.code(), r.a.Errors[0].Message)
			}
			w := in(r.at, r.at+r.took)
			if w < 0 {
				t.Errorf("me at %v failed outside every outage (up to 2s after a promotion)", r.at)
				continue
			}
			failed[w]++
			lastFailure[w] = max(lastFailure[w], r.at+r.took)
		}
		notReady := make([]int, len(windows))
		for _, p := range ready {
			if p.code == http.StatusOK {
				continue
			}
			w := in(p.at-time.Second, p.at) // the probe may have begun up to its 1s+ earlier
			if w < 0 {
				t.Errorf("/readyz %d at %v, outside every outage", p.code, p.at)
				continue
			}
			notReady[w]++
		}
		for i, w := range windows {
			after := "no failures"
			if failed[i] > 0 {
				after = fmt.Sprintf("last failure ended %v after the promotion", (lastFailure[i] - w.promoted).Round(time.Millisecond))
			}
			t.Logf("outage %d (%v to promotion): %d requests failed, %s; /readyz 503 %d times",
				i+1, (w.promoted - w.killed).Round(time.Millisecond), failed[i], after, notReady[i])
			if notReady[i] == 0 {
				t.Errorf("outage %d: /readyz never said not ready while a master's slots were unserved", i+1)
			}
		}
		t.Logf("%d requests in all; longest %v", len(results), longest.Round(time.Millisecond))
		// No session was lost.
		for _, u := range users {
			r, err := me(b.base, u.token)
			if err != nil || meEmail(r) != u.email {
				t.Errorf("after the failovers, %s's session: %+v, %v", u.email, r, err)
			}
		}
	})
}

func openSQL(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Two instances on a Sentinel set-up share sessions, and ride out the
// master's death: once the sentinels have promoted the replica, requests
// succeed again within 2 s and the session is still there.
func TestInstancesOnSentinel(t *testing.T) {
	t.Parallel()
	sentinel := redistest.StartSentinel(t, 1, time.Second)
	env := map[string]string{"PORTAL_DATABASE_URL": storetest.NewPostgresURL(t), "PORTAL_REDIS_URL": sentinel.URL()}
	all := startInstances(t, 2, env)
	a, b := all[0], all[1]
	o := newOrg(t, env, newMailSink(t), a.base)
	if r, err := me(b.base, o.adminToken); err != nil || meEmail(r) != "ann@example.com" {
		t.Fatalf("login on A, me on B: %+v, %v", r, err)
	}
	killed := time.Now()
	sentinel.Master.Kill()
	for _, in := range all {
		if code := readyz(in.base); code != http.StatusServiceUnavailable {
			t.Errorf("instance %s: /readyz with the master dead = %d, want 503", in.name, code)
		}
	}
	var promoted time.Time
	failures := 0
	for {
		r, err := me(b.base, o.adminToken)
		if err != nil {
			t.Fatal(err)
		}
		if promoted.IsZero() && sentinel.MasterAddr() == sentinel.Replicas[0].Addr {
			promoted = time.Now()
		}
		if len(r.Errors) == 0 && !promoted.IsZero() {
			if meEmail(r) != "ann@example.com" {
				t.Fatalf("me after the failover: %+v", r)
			}
			break
		}
		if len(r.Errors) > 0 {
			failures++
			if !r.unavailable() {
				t.Fatalf("me during the failover: %d %s %q", r.Status, r.code(), r.Errors[0].Message)
			}
		}
		if !promoted.IsZero() && time.Since(promoted) > 2*time.Second {
			t.Fatalf("requests still fail %v after the promotion", time.Since(promoted))
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no promotion within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("replica promoted %v after the kill; %d requests failed meanwhile; first success %v after the promotion",
		promoted.Sub(killed).Round(time.Millisecond), failures, time.Since(promoted).Round(time.Millisecond))
	for _, in := range all {
		if code := readyz(in.base); code != http.StatusOK {
			t.Errorf("instance %s: /readyz after the failover = %d", in.name, code)
		}
	}
}
