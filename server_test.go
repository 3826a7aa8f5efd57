package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store/storetest"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func devEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{"PORTAL_DATABASE_URL": filepath.Join(dir, "portal.db"),
		"PORTAL_KEY_FILE": filepath.Join(dir, "portal.key"), "PORTAL_ADDR": "127.0.0.1:0"}
}

func TestCreateOrganizationCommand(t *testing.T) {
	env := devEnv(t)
	var out, logs syncBuffer
	err := run(context.Background(), []string{"create-organization", "--name", "Acme", "--admin-email", "Ann@Example.com", "--admin-name", "Ann"}, env, &out, &logs)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`http://localhost:8080/accept-invitation#token=[A-Za-z0-9_-]{43}\n`).MatchString(out.String()) {
		t.Fatalf("output has no invitation link:\n%s", out.String())
	}
	// The same email again is refused; bad flags name the flag.
	err = run(context.Background(), []string{"create-organization", "--name", "Other", "--admin-email", "ann@example.com", "--admin-name", "Ann"}, env, &out, &logs)
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("duplicate admin email: %v", err)
	}
	err = run(context.Background(), []string{"create-organization", "--name", "X", "--admin-email", "nope", "--admin-name", "Y"}, env, &out, &logs)
	if err == nil || !strings.HasPrefix(err.Error(), "--admin-email: ") {
		t.Fatalf("bad email: %v", err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, env, &out, &logs); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestTOTPCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"totp", "JBSWY3DPEHPK3PXP"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	want, _ := portal.TOTPCode("JBSWY3DPEHPK3PXP", time.Now())
	if got := strings.TrimSpace(out.String()); got != want {
		// The step may have turned between the two calls; one retry.
		out.Reset()
		_ = run(context.Background(), []string{"totp", "JBSWY3DPEHPK3PXP"}, nil, &out, io.Discard)
		want, _ = portal.TOTPCode("JBSWY3DPEHPK3PXP", time.Now())
		if got = strings.TrimSpace(out.String()); got != want {
			t.Fatalf("totp printed %q, want %q", got, want)
		}
	}
	if err := run(context.Background(), []string{"totp", "not base32!"}, nil, &out, io.Discard); err == nil {
		t.Fatal("bad secret accepted")
	}
}

func TestBadConfigStopsStart(t *testing.T) {
	env := devEnv(t)
	env["PORTAL_SESSION_IDLE_TIMEOUT"] = "forever"
	err := run(context.Background(), nil, env, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "PORTAL_SESSION_IDLE_TIMEOUT: ") {
		t.Fatalf("err = %v", err)
	}
}

// startServer runs `portal serve` with env until the returned stop is
// called; it returns the base URL.
func startServer(t *testing.T, env map[string]string) (base string, stop func() error, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, env, io.Discard, logs) }()
	addr := regexp.MustCompile(`msg=serving addr=(\S+)|"msg":"serving","addr":"([^"]+)"`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1] + m[2]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("server stopped: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return base, stop, logs
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b) + res.Header.Get("Location")
}

func gql(url, query string) (map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query})
	res, err := http.Post(url+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	return out, json.NewDecoder(res.Body).Decode(&out)
}

func TestServeRoutesAndGracefulShutdown(t *testing.T) {
	base, stop, logs := startServer(t, devEnv(t))
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/graphiql": 200, "/": 200, "/metrics": 200,
		"/accept-invitation": 200, "/reset-password": 200, "/assets/app.js": 200, "/graphiql/assets/graphiql.min.js": 200, "/nope": 404} {
		if code, body := get(t, base+path); code != want {
			t.Errorf("GET %s = %d %.200q, want %d", path, code, body, want)
		}
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{"portal_http_request_duration_seconds", `portal_outbox_messages{status="pending"} 0`, `portal_outbox_messages{status="failed"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// requestPasswordReset takes at least ResetFloor (300 ms): it is in
	// flight when shutdown starts, and must still be answered.
	answered := make(chan map[string]any, 1)
	go func() {
		out, err := gql(base, `mutation { requestPasswordReset(input: {email: "nobody@example.com"}) }`)
		if err != nil {
			out = map[string]any{"err": err.Error()}
		}
		answered <- out
	}()
	time.Sleep(100 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	out := <-answered
	if data, _ := out["data"].(map[string]any); data == nil || data["requestPasswordReset"] != true {
		t.Fatalf("in-flight request during shutdown got %v", out)
	}
	if !strings.Contains(logs.String(), "msg=stopped") && !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in logs:\n%s", logs.String())
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

func TestProductionHidesGraphiQLAndIntrospection(t *testing.T) {
	env := devEnv(t)
	env["PORTAL_ENV"] = "production"
	env["PORTAL_SMTP_URL"] = "smtp://127.0.0.1:1"
	env["PORTAL_ENCRYPTION_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	env["PORTAL_PUBLIC_URL"] = "https://portal.example.com"
	base, _, _ := startServer(t, env)
	if code, _ := get(t, base+"/graphiql"); code != http.StatusNotFound {
		t.Errorf("GET /graphiql in production = %d, want 404", code)
	}
	out, err := gql(base, `{ __schema { types { name } } }`)
	if err != nil {
		t.Fatal(err)
	}
	if out["errors"] == nil {
		t.Fatalf("introspection answered in production: %v", out)
	}
}

// login is a login with a wrong password: it reaches the database and the
// session store (rate limiter) and, when both answer, is UNAUTHENTICATED.
const login = `mutation { login(input: {email: "a@example.com", password: "whatever-whatever"}) { token } }`

// firstError sends query and returns its first error as "CODE: message",
// or "no error".
func firstError(t *testing.T, base, query string) string {
	t.Helper()
	out, err := gql(base, query)
	if err != nil {
		t.Fatal(err)
	}
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return "no error"
	}
	e := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	return fmt.Sprint(ext["code"]) + ": " + fmt.Sprint(e["message"])
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startRedis(t *testing.T, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return cmd
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
	return nil
}

// With Redis down, requests fail closed with a clear error and /readyz
// fails; when it comes back the server recovers by itself.
func TestRedisOutageFailsClosedAndRecovers(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	port := freePort(t)
	redis := startRedis(t, port)
	t.Cleanup(func() { _ = redis.Process.Kill(); _ = redis.Wait() })
	env := devEnv(t)
	env["PORTAL_DATABASE_URL"] = storetest.NewPostgresURL(t)
	env["PORTAL_REDIS_URL"] = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	base, _, _ := startServer(t, env)
	code := func() string { return firstError(t, base, login) }
	if got := code(); !strings.HasPrefix(got, "UNAUTHENTICATED") {
		t.Fatalf("with Redis up: %s", got)
	}
	_ = redis.Process.Kill()
	_ = redis.Wait()
	if got := code(); got != "INTERNAL: the service is temporarily unavailable; try again" {
		t.Fatalf("with Redis down: %s", got)
	}
	if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down = %d", status)
	}
	redis = startRedis(t, port)
	var got string
	for i := 0; i < 50; i++ {
		if got = code(); strings.HasPrefix(got, "UNAUTHENTICATED") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(got, "UNAUTHENTICATED") {
		t.Fatalf("after Redis came back: %s", got)
	}
	if status, _ := get(t, base+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz after recovery = %d", status)
	}
}

// proxy forwards a loopback port to PostgreSQL, so a test can take "the
// database" away and bring it back without touching the shared server.
type proxy struct {
	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func (p *proxy) start(t *testing.T, port int, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// stop closes the listener and cuts every connection through it.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// With PostgreSQL unreachable, requests fail closed with a clear error and
// /readyz fails; when it is back the server recovers by itself.
func TestDatabaseOutageFailsClosedAndRecovers(t *testing.T) {
	dbURL := storetest.NewPostgresURL(t) // this test's own database
	port := freePort(t)
	var p proxy
	p.start(t, port, "127.0.0.1:5432")
	t.Cleanup(p.stop)
	viaProxy := strings.Replace(dbURL, "127.0.0.1:5432", fmt.Sprintf("127.0.0.1:%d", port), 1)
	if viaProxy == dbURL {
		t.Skip("PORTAL_TEST_POSTGRES_URL is not on 127.0.0.1:5432")
	}
	env := devEnv(t)
	env["PORTAL_DATABASE_URL"] = viaProxy
	base, _, logs := startServer(t, env)
	code := func() string { return firstError(t, base, login) }
	if got := code(); got != "UNAUTHENTICATED: wrong email or password" {
		t.Fatalf("with the database up: %s", got)
	}
	p.stop()
	if got := code(); got != "INTERNAL: the service is temporarily unavailable; try again" {
		t.Fatalf("with the database down: %s\n%s", got, logs.String())
	}
	if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database down = %d", status)
	}
	p.start(t, port, "127.0.0.1:5432")
	var got string
	for i := 0; i < 50; i++ {
		if got = code(); got == "UNAUTHENTICATED: wrong email or password" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "UNAUTHENTICATED: wrong email or password" {
		t.Fatalf("after the database came back: %s", got)
	}
	if status, _ := get(t, base+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz after recovery = %d", status)
	}
}

// With PORTAL_METRICS_ADDR, /metrics moves off the public address.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	env := devEnv(t)
	env["PORTAL_METRICS_ADDR"] = "127.0.0.1:0"
	base, _, logs := startServer(t, env)
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("GET /metrics on the public address = %d, want 404", code)
	}
	m := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics listener in logs:\n%s", logs.String())
	}
	if code, body := get(t, "http://"+m[1]+"/metrics"); code != http.StatusOK || !strings.Contains(body, "portal_outbox_messages") {
		t.Fatalf("GET /metrics on the metrics address = %d", code)
	}
}
