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
	"syscall"
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
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/graphiql": 200, "/": 302, "/metrics": 200} {
		if code, body := get(t, base+path); code != want {
			t.Errorf("GET %s = %d %q, want %d", path, code, body, want)
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
	base, _, logs := startServer(t, env)
	if code, _ := get(t, base+"/graphiql"); code != http.StatusNotFound {
		t.Errorf("GET /graphiql in production = %d, want 404", code)
	}
	if got := firstError(t, base, `{ __schema { types { name } } }`); got != "BAD_USER_INPUT: introspection is disabled" {
		t.Fatalf("introspection in production: %s", got)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a refused introspection query was logged as an error:\n%s", logs.String())
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

// outcome is one request of the load an outage test puts on the server.
type outcome struct {
	start, end time.Time
	status     int
	retryAfter string
	code       string // extensions.code of the first error
	authorised bool   // the operation ran as the signed-in user
	err        error
}

// call sends query with the bearer token ("" for none) and reads what an
// outage test needs from the answer.
func call(base, token, query string, vars map[string]any) outcome {
	o := outcome{start: time.Now()}
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		o.err, o.end = err, time.Now()
		return o
	}
	defer res.Body.Close()
	var out struct {
		Data   map[string]any
		Errors []struct{ Extensions map[string]any }
	}
	o.err = json.NewDecoder(res.Body).Decode(&out)
	o.end, o.status, o.retryAfter = time.Now(), res.StatusCode, res.Header.Get("Retry-After")
	if len(out.Errors) > 0 {
		o.code, _ = out.Errors[0].Extensions["code"].(string)
	}
	// me { id } or createUser { user { id } }: any id in the data.
	o.authorised = strings.Contains(fmt.Sprint(out.Data), "id:")
	return o
}

// signIn creates an organisation with the operator command and signs its
// Super Admin in through the API (invitation, password, TOTP enrolment).
func signIn(t *testing.T, base string, env map[string]string, email string) string {
	t.Helper()
	var out, logs syncBuffer
	if err := run(context.Background(), []string{"create-organization", "--name", "Acme " + email, "--admin-email", email, "--admin-name", "Ann"}, env, &out, &logs); err != nil {
		t.Fatalf("create-organization: %v\n%s", err, logs.String())
	}
	m := regexp.MustCompile(`#token=(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no invitation link in %q", out.String())
	}
	const password = "correct horse battery staple"
	post := func(token, query string, vars map[string]any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r struct {
			Data   map[string]any
			Errors []any
		}
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || len(r.Errors) > 0 {
			t.Fatalf("%s: %v %v", query, err, r.Errors)
		}
		return r.Data
	}
	post("", `mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { user { id } } }`,
		map[string]any{"t": m[1], "p": password})
	login := post("", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token enrollment { secret } } }`,
		map[string]any{"e": email, "p": password})["login"].(map[string]any)
	code, err := portal.TOTPCode(login["enrollment"].(map[string]any)["secret"].(string), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v := post(login["token"].(string), `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step token } }`,
		map[string]any{"c": code})["verifyTwoFactor"].(map[string]any)
	if v["step"] != "SIGNED_IN" {
		t.Fatalf("verifyTwoFactor: %v", v)
	}
	return v["token"].(string)
}

// outageLoad runs workers that send, over and over until stop is closed, a
// query as the signed-in user, a mutation that would create a user, and a
// login; it returns every outcome.
func outageLoad(base, token string, stop <-chan struct{}) <-chan []outcome {
	done := make(chan []outcome, 1)
	go func() {
		var mu sync.Mutex
		var all []outcome
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var o outcome
					switch i % 3 {
					case 0:
						o = call(base, token, `{ me { id } }`, nil)
					case 1:
						o = call(base, token, `mutation($e: String!) { createUser(input: {email: $e, name: "Outage", role: VIEWER}) { user { id } } }`,
							map[string]any{"e": fmt.Sprintf("outage-%d-%d@example.com", w, i)})
					case 2:
						o = call(base, "", login, nil)
					}
					mu.Lock()
					all = append(all, o)
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		done <- all
	}()
	return done
}

// checkOutage asserts that every request of the load (all made during the
// outage, from down to up) was refused as the contract says, fast.
func checkOutage(t *testing.T, outcomes []outcome, down, up time.Time) {
	t.Helper()
	n := 0
	for _, o := range outcomes {
		if o.start.Before(down) || o.end.After(up) {
			continue
		}
		n++
		switch {
		case o.err != nil:
			t.Errorf("request failed: %v", o.err)
		case o.authorised:
			t.Errorf("a request was authorised during the outage")
		case o.status != http.StatusServiceUnavailable || o.code != "SERVICE_UNAVAILABLE" || o.retryAfter == "":
			t.Errorf("answer during the outage: %d, Retry-After %q, code %q", o.status, o.retryAfter, o.code)
		case o.end.Sub(o.start) > time.Second:
			t.Errorf("answer during the outage took %v", o.end.Sub(o.start))
		}
	}
	if n < 20 {
		t.Fatalf("only %d requests during the outage", n)
	}
	t.Logf("%d requests during the outage: each 503 + Retry-After + SERVICE_UNAVAILABLE, none authorised", n)
}

// waitRecovered polls until probe passes and returns how long it took.
func waitRecovered(t *testing.T, what string, probe func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !probe() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not recovered 5s after the dependency came back", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// Redis frozen (SIGSTOP), then killed, under load: no request is authorised, every answer is 503
// with Retry-After and SERVICE_UNAVAILABLE within a second, /readyz is
// 503, the monitor logs the cause; within 5 s of Redis coming back the
// same server answers normally again, and nothing was created meanwhile.
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
	base, _, logs := startServer(t, env)
	token := signIn(t, base, env, "ann@example.com")
	if o := call(base, token, `{ me { id } }`, nil); !o.authorised {
		t.Fatalf("with Redis up: %+v", o)
	}

	// Frozen: Redis accepts connections but answers nothing.
	_ = redis.Process.Signal(syscall.SIGSTOP)
	down := time.Now()
	stop := make(chan struct{})
	load := outageLoad(base, token, stop)
	time.Sleep(2 * time.Second)
	if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis frozen = %d", status)
	}
	close(stop)
	outcomes := <-load
	up := time.Now()
	_ = redis.Process.Signal(syscall.SIGCONT)
	took := waitRecovered(t, "Redis", func() bool { return call(base, token, `{ me { id } }`, nil).authorised })
	checkOutage(t, outcomes, down, up)
	t.Logf("answering normally %v after Redis thawed", took)

	// Killed.
	_ = redis.Process.Kill()
	_ = redis.Wait()
	down = time.Now()
	stop = make(chan struct{})
	load = outageLoad(base, token, stop)
	time.Sleep(2 * time.Second)
	if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down = %d", status)
	}
	close(stop)
	outcomes = <-load
	up = time.Now()
	redis = startRedis(t, port)
	took = waitRecovered(t, "Redis", func() bool { return strings.HasPrefix(firstError(t, base, login), "UNAUTHENTICATED") })
	checkOutage(t, outcomes, down, up)
	t.Logf("answering normally %v after Redis came back", took)
	if status, _ := get(t, base+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz after recovery = %d", status)
	}
	if l := logs.String(); !strings.Contains(l, `msg="dependency unavailable`) || !strings.Contains(l, `dependency="session store"`) || !strings.Contains(l, "connection refused") {
		t.Errorf("the outage is not in the log with its cause:\n%s", l)
	}
	// The new Redis is empty: the old session is gone. Sign in again and
	// check that nothing was created during the outage.
	checkNoneCreated(t, base, signIn(t, base, env, "bob@example.com"))
}

// checkNoneCreated asserts that the organisation of token has no user
// made by the outage load.
func checkNoneCreated(t *testing.T, base, token string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `{ users(filter: {search: "outage-"}) { totalCount } }`})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct{ Users struct{ TotalCount int } }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Data.Users.TotalCount != 0 {
		t.Fatalf("%d users were created during the outage", out.Data.Users.TotalCount)
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

// PostgreSQL taken away under load (a proxy in front of it stops and cuts
// every connection): the same as for Redis. Sessions are in process here,
// so the session signed in before the outage works again after it.
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
	token := signIn(t, base, env, "ann@example.com")
	if got := firstError(t, base, login); got != "UNAUTHENTICATED: wrong email or password" {
		t.Fatalf("with the database up: %s", got)
	}

	p.stop()
	down := time.Now()
	stop := make(chan struct{})
	load := outageLoad(base, token, stop)
	time.Sleep(2 * time.Second)
	if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down = %d", status)
	}
	close(stop)
	outcomes := <-load
	up := time.Now()
	p.start(t, port, "127.0.0.1:5432")
	took := waitRecovered(t, "PostgreSQL", func() bool { return call(base, token, `{ me { id } }`, nil).authorised })
	checkOutage(t, outcomes, down, up)
	t.Logf("answering normally %v after PostgreSQL came back", took)
	if status, _ := get(t, base+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz after recovery = %d", status)
	}
	if l := logs.String(); !strings.Contains(l, `msg="dependency unavailable`) || !strings.Contains(l, "dependency=database") {
		t.Errorf("the outage is not in the log:\n%s", l)
	}
	checkNoneCreated(t, base, token)
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
