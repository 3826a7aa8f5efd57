// Command bench measures the portal server against a raw baseline doing the
// same work (net/http + native pgx + go-redis, no GraphQL: the same session
// touch, the same SQL, byte-identical JSON), interleaved A/B in rounds, and
// the embedded default (SQLite + in-process sessions) beside it.
//
//	go run ./internal/bench            # the full run (make bench)
//	go run ./internal/bench -quick     # about a minute: fewer users, rounds and seconds
//
// It seeds its own PostgreSQL database (dropped afterwards) and uses its
// own Redis database, builds the server from this module and runs it as a
// child process configured like production (PostgreSQL + Redis). Any
// failed request voids the run: the report says so and it exits 1.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/secretbox"
)

type options struct {
	pgAdmin, redisURL     string
	users, orgs, orgUsers int
	sessions              int
	rounds                int
	duration              time.Duration
	conns                 []int
	only                  *regexp.Regexp
	postgres, embedded    bool
	portalBin             string
	keep                  bool
	out                   io.Writer
}

func defaults() options {
	pg := os.Getenv("PORTAL_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	return options{pgAdmin: pg, redisURL: "redis://127.0.0.1:6379/13", users: 100_000, orgs: 9, orgUsers: 1_000,
		sessions: 1_000, rounds: 5, duration: 3 * time.Second, conns: []int{8, 32}, postgres: true, embedded: true,
		out: os.Stdout}
}

func main() {
	if os.Getenv(envRaw) != "" {
		serveRaw()
		return
	}
	o := defaults()
	var quick bool
	var conns, only string
	flag.StringVar(&o.pgAdmin, "pg", o.pgAdmin, "PostgreSQL server URL (a fresh database is created on it and dropped)")
	flag.StringVar(&o.redisURL, "redis", o.redisURL, "Redis URL; use a database of its own")
	flag.IntVar(&o.users, "users", o.users, "users in the main organisation")
	flag.IntVar(&o.orgs, "orgs", o.orgs, "further organisations")
	flag.IntVar(&o.orgUsers, "org-users", o.orgUsers, "users in each further organisation")
	flag.IntVar(&o.sessions, "sessions", o.sessions, "signed-in sessions for the many-sessions workload")
	flag.IntVar(&o.rounds, "rounds", o.rounds, "A/B rounds per workload and concurrency")
	flag.DurationVar(&o.duration, "duration", o.duration, "length of each timed run")
	flag.StringVar(&conns, "conns", "8,32", "concurrent connections, comma separated")
	flag.StringVar(&only, "only", "", "run only workloads matching this regular expression")
	flag.BoolVar(&o.postgres, "postgres", o.postgres, "measure PostgreSQL + Redis against the raw baseline")
	flag.BoolVar(&o.embedded, "embedded", o.embedded, "measure the embedded default (SQLite + in-process sessions)")
	flag.StringVar(&o.portalBin, "portal", "", "server binary to measure (default: build this module)")
	flag.BoolVar(&o.keep, "keep", false, "keep the seeded database")
	flag.BoolVar(&quick, "quick", false, "a run of about a minute: 20,000 users, 50 sessions, 2 rounds of 1s")
	flag.Parse()
	if quick {
		o.users, o.orgs, o.sessions, o.rounds, o.duration = 20_000, 2, 50, 2, time.Second
	}
	var err error
	if o.conns, err = parseConns(conns); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -conns:", err)
		os.Exit(2)
	}
	if only != "" {
		if o.only, err = regexp.Compile(only); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -only:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := runBench(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if rep.void() {
		os.Exit(1)
	}
}

func parseConns(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// env is one backend's setup: a database, its seeded data, its servers.
type env struct {
	name                 string
	dbURL                string
	data                 *seeded
	ours                 *proc
	raw                  *proc // nil: no baseline (embedded)
	admin                string
	tokens               []string // sessions of other users
	deepName, deepActive string
	idleOurs, idleRaw    int64
}

func runBench(ctx context.Context, o options) (*report, error) {
	tmp, err := os.MkdirTemp("", "portal-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := o.portalBin
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		bin = filepath.Join(tmp, "portal")
		fmt.Fprintln(o.out, "building the server ...")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build the server: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	key := secretbox.NewKey()
	box, err := secretbox.New(key)
	if err != nil {
		return nil, err
	}
	keyEnv := "PORTAL_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key)
	client := newClient()
	rep := &report{o: o, started: time.Now(), load1: loadavg()}
	defer rep.print(o.out)

	if o.postgres {
		dbURL, drop, err := newPostgres(ctx, o.pgAdmin)
		if err != nil {
			return nil, err
		}
		if o.keep {
			fmt.Fprintln(o.out, "database kept:", dbURL)
		} else {
			defer drop()
		}
		e := &env{name: "PostgreSQL + Redis", dbURL: dbURL}
		if err := prepare(ctx, o, e, box, client, tmp, bin, keyEnv, self); err != nil {
			return rep, err
		}
		defer e.ours.stop()
		defer e.raw.stop()
		rep.pg = measure(ctx, o, e, client, rep)
		e.ours.stop()
		e.raw.stop()
	}
	if o.embedded {
		e := &env{name: "SQLite + in-process sessions", dbURL: filepath.Join(tmp, "bench.db")}
		if err := prepare(ctx, o, e, box, client, tmp, bin, keyEnv, ""); err != nil {
			return rep, err
		}
		defer e.ours.stop()
		rep.embedded = measure(ctx, o, e, client, rep)
		e.ours.stop()
	}
	rep.load2 = loadavg()
	return rep, ctx.Err()
}

// prepare seeds e's database, starts its servers and signs in.
func prepare(ctx context.Context, o options, e *env, box *secretbox.Box, client *http.Client, tmp, bin, keyEnv, self string) error {
	t := time.Now()
	fmt.Fprintf(o.out, "%s: seeding %d + %d x %d users ...\n", e.name, o.users, o.orgs, o.orgUsers)
	data, err := seed(ctx, e.dbURL, box, o.users, o.orgs, o.orgUsers)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	e.data = data
	fmt.Fprintf(o.out, "%s: seeded in %s\n", e.name, time.Since(t).Round(time.Millisecond))
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	senv := []string{"PORTAL_ADDR=" + addr, "PORTAL_DATABASE_URL=" + e.dbURL, keyEnv,
		"PORTAL_TRUSTED_PROXIES=127.0.0.1", "PORTAL_ENV=development", "PORTAL_MIGRATE_ON_START=false",
		"PORTAL_REDIS_URL=", "PORTAL_SMTP_URL=", "PORTAL_METRICS_ADDR="}
	if self != "" {
		senv = append(senv, "PORTAL_REDIS_URL="+o.redisURL)
	}
	if e.ours, err = start(ctx, "ours", bin, nil, senv, addr, filepath.Join(tmp, "ours-"+safe(e.name)+".log")); err != nil {
		return err
	}
	time.Sleep(time.Second)
	e.idleOurs = e.ours.status("VmRSS")
	if self != "" {
		raddr, err := freeAddr()
		if err != nil {
			return err
		}
		renv := []string{envRaw + "=1", envRawAddr + "=" + raddr, envRawPG + "=" + e.dbURL, envRawRedis + "=" + o.redisURL}
		if e.raw, err = start(ctx, "raw", self, []string{"-test.run=^$"}, renv, raddr, filepath.Join(tmp, "raw.log")); err != nil {
			return err
		}
		time.Sleep(time.Second)
		e.idleRaw = e.raw.status("VmRSS")
	}
	c := newClient()
	t = time.Now()
	if e.admin, err = signInAdmin(ctx, c, e.ours.addr, data); err != nil {
		return fmt.Errorf("sign in the admin: %w", err)
	}
	n := min(o.sessions, len(data.active))
	e.tokens = make([]string, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	next := atomic.Int64{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				tok, err := signIn(ctx, c, e.ours.addr, data.active[i])
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				e.tokens[i] = tok
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return fmt.Errorf("sign in %d sessions: %w", n, err)
	}
	fmt.Fprintf(o.out, "%s: signed in the admin and %d sessions through login + verifyTwoFactor in %s\n",
		e.name, n, time.Since(t).Round(time.Millisecond))
	row := o.users * 9 / 10
	if e.deepName, e.deepActive, err = deepCursors(ctx, e.dbURL, box, data.orgID, row); err != nil {
		return fmt.Errorf("deep cursors: %w", err)
	}
	return nil
}

func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, s)
}

var ipSeq atomic.Int64

// nextIP is a fresh client address for X-Forwarded-For, so that per-IP
// throttling of logins never trips.
func nextIP() string {
	n := ipSeq.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", (n>>16)&255, (n>>8)&255, n&255)
}

func gql(query string, vars map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
	return b
}

type gqlAnswer struct {
	Data map[string]json.RawMessage `json:"data"`
}

func call(ctx context.Context, c *http.Client, addr, token, query string, vars map[string]any, field string, out any) error {
	b, err := do(ctx, c, addr, request{method: "POST", path: "/graphql", body: gql(query, vars), token: token, xff: nextIP()})
	if err != nil {
		return err
	}
	var a gqlAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	return json.Unmarshal(a.Data[field], out)
}

const (
	loginQuery  = `mutation($i: LoginInput!) { login(input: $i) { step token enrollment { secret } } }`
	verifyQuery = `mutation($i: VerifyTwoFactorInput!) { verifyTwoFactor(input: $i) { step token } }`
)

type loginAnswer struct {
	Step       string `json:"step"`
	Token      string `json:"token"`
	Enrollment *struct {
		Secret string `json:"secret"`
	} `json:"enrollment"`
}

// signIn logs a user in and sends the TOTP code: a full session's token.
func signIn(ctx context.Context, c *http.Client, addr, email string) (string, error) {
	var l loginAnswer
	if err := call(ctx, c, addr, "", loginQuery, map[string]any{"i": map[string]any{"email": email, "password": benchPassword}}, "login", &l); err != nil {
		return "", err
	}
	secret := benchSecret
	if l.Enrollment != nil {
		secret = l.Enrollment.Secret
	}
	code, err := portal.TOTPCode(secret, time.Now())
	if err != nil {
		return "", err
	}
	var v loginAnswer
	if err := call(ctx, c, addr, l.Token, verifyQuery, map[string]any{"i": map[string]any{"code": code}}, "verifyTwoFactor", &v); err != nil {
		return "", err
	}
	if v.Step != "SIGNED_IN" {
		return "", fmt.Errorf("verifyTwoFactor: step %s", v.Step)
	}
	return v.Token, nil
}

// signInAdmin accepts the admin's invitation, enrols 2FA and signs in.
func signInAdmin(ctx context.Context, c *http.Client, addr string, d *seeded) (string, error) {
	var p struct {
		User struct {
			Status string `json:"status"`
		} `json:"user"`
	}
	if err := call(ctx, c, addr, "", `mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { user { status } } }`,
		map[string]any{"i": map[string]any{"token": d.inviteToken, "password": benchPassword}}, "acceptInvitation", &p); err != nil {
		return "", err
	}
	return signIn(ctx, c, addr, d.adminEmail)
}

// loadavg is the 1-minute load average of the machine.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func queryString(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Add(kv[i], kv[i+1])
		}
	}
	return v.Encode()
}
