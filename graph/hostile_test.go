package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/session"
	"github.com/clientportal/portal/internal/store/storetest"
)

// countingSessions is the real in-process session store, counting lookups.
type countingSessions struct {
	portal.SessionStore
	touches atomic.Int64
}

func (c *countingSessions) Touch(ctx context.Context, hash string, now time.Time) (*portal.Session, error) {
	c.touches.Add(1)
	return c.SessionStore.Touch(ctx, hash, now)
}

// countingLimiter is the real in-process limiter, counting attempts.
type countingLimiter struct {
	portal.Limiter
	allows atomic.Int64
}

func (c *countingLimiter) Allow(ctx context.Context, key string, l portal.Limit) (time.Duration, error) {
	c.allows.Add(1)
	return c.Limiter.Allow(ctx, key, l)
}

// processCPU is the CPU time (user + system) the whole test process has
// used so far.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostileRequests are small requests whose cost grew faster than their
// size before issue 7: each within the body cap and the parser's token
// cap, so that it reaches the layers behind them.
func hostileRequests() map[string][]byte {
	q := func(query string, vars map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		return b
	}
	repeat := func(n int, format string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, format, i, i+1) // %[1]d is i, %[2]d is i+1
		}
		return b.String()
	}
	wideVars := map[string]any{}
	for i := 0; i < 5000; i++ {
		wideVars[fmt.Sprint(i)] = i
	}
	var deepVars any = 1
	for i := 0; i < 5000; i++ {
		deepVars = []any{deepVars}
	}
	return map[string][]byte{
		// The attack as the issue reports it: 27 fragments, 2^27 selections.
		"fragment bomb": q(bomb(26), nil),
		// The same with a field, so the overlap rule has pairs to compare.
		"fragment bomb with fields":         q(strings.ReplaceAll(bomb(40), "__typename", "me { id name email }"), nil),
		"fragment chain":                    q("{...F0}"+repeat(60, " fragment F%[1]d on Query{ me { id } ...F%[2]d }")+" fragment F60 on Query{ me { id } }", nil),
		"fragment pairs":                    q("{"+repeat(60, " ...F%[1]d")+"}"+repeat(60, " fragment F%[1]d on Query{ a: me { id } }"), nil),
		"unknown directives":                q("{ me "+strings.Repeat("@a ", 2400)+"{ id } }", nil),
		"repeated directives":               q("{ me "+strings.Repeat("@skip(if: false) ", 700)+"{ id } }", nil),
		"directives everywhere":             q("{"+repeat(350, " f%[1]d: me @include(if: true) { id }")+"}", nil),
		"deep inline fragments":             q("{"+strings.Repeat("...{", 900)+"me { id }"+strings.Repeat("}", 900)+"}", nil),
		"deep selections":                   q("{ users { nodes { "+strings.Repeat("invitedBy { ", 400)+"id"+strings.Repeat(" }", 400)+" } } }", nil),
		"many operations":                   q(repeat(700, "query Q%[1]d { ...F }")+"fragment F on Query { me { id } }", nil),
		"many operations, one big fragment": q(repeat(9, "query Q%[1]d { ...F }")+"fragment F on Query {"+repeat(600, " f%[1]d: me { id }")+"}", nil),
		"same alias many times":             q("{"+strings.Repeat(" a: me { id }", 700)+" }", nil),
		"conflicting aliases":               q("{"+strings.Repeat(" a: me { id } a: roles { role }", 350)+" }", nil),
		"same field many times":             q("{ me {"+strings.Repeat(" id", 4800)+" } }", nil),
		"many variables":                    q("query("+repeat(800, "$v%[1]d: Int")+") { me { id } }", nil),
		"many variable uses":                q("query($n: Int) {"+repeat(400, " u%[1]d: users(first: $n) { totalCount }")+"}", nil),
		"unknown fields":                    q("{"+repeat(1500, " f%[1]d: nope")+"}", nil),
		"unknown nested fields":             q("{ me {"+repeat(graph.MaxExpandedNodes-5, " n%[1]d")+"} }", nil),
		"large argument object":             q(`{ users(filter: {`+strings.Repeat(`search: "x", `, 1500)+`}) { totalCount } }`, nil),
		"wide variables":                    q(`query($f: UserFilter) { users(filter: $f) { totalCount } }`, map[string]any{"f": wideVars}),
		"deep variables":                    q(`query($f: UserFilter) { users(filter: $f) { totalCount } }`, map[string]any{"f": deepVars}),
		"deeper than the parser allows":     q("{"+strings.Repeat("...{", 1200)+"me { id }"+strings.Repeat("}", 1200)+"}", nil),
		"unknown fragments":                 q("{"+repeat(1100, " ...F%[1]d")+" }", nil),
		"unknown arguments":                 q("{ users("+repeat(1100, " a%[1]d: 1")+") { totalCount } }", nil),
		"cyclic fragments":                  q("{ ...A } fragment A on Query { ...B ...B me { id } } fragment B on Query { ...A ...A me { id } }", nil),
	}
}

// bomb is the fragment attack: n fragments each spreading the next twice.
func bomb(n int) string {
	var b strings.Builder
	b.WriteString("query{...F0}")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{...F%d ...F%d}", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Query{__typename}", n)
	return b.String()
}

// TestHostileDocumentsAreRefusedCheaply sends each hostile request, in
// development and production mode, with a bearer token, and checks that
// it is refused as a client error before any session lookup or rate
// limiter (so before any resolver or database call), that the answer is
// no larger than a few errors, and that it cost the whole process less
// than 10 ms of CPU time (the best of five tries, scaled under the race
// detector). Before issue 7 the fragment bomb alone took 13 s.
func TestHostileDocumentsAreRefusedCheaply(t *testing.T) {
	box := storetest.Box(t)
	db := storetest.SQLite(t, box)
	sessions := &countingSessions{SessionStore: session.NewMemory(5*time.Minute, 12*time.Hour)}
	limiter := &countingLimiter{Limiter: session.NewMemoryLimiter(portal.SystemClock{})}
	svc := portal.New(portal.DefaultConfig(), db, sessions, limiter, portal.SystemClock{}, portal.NewHasher(1), box, nil)
	client := &http.Client{}
	budget := 10 * time.Millisecond * cpuScale
	for _, dev := range []bool{true, false} {
		srv := httptest.NewServer(graph.NewHandler(svc, graph.Options{Dev: dev}))
		t.Cleanup(srv.Close)
		for name, body := range hostileRequests() {
			t.Run(fmt.Sprintf("%s/dev=%v", name, dev), func(t *testing.T) {
				if len(body) > graph.MaxBodyBytes {
					t.Fatalf("request of %d bytes is over the body cap", len(body))
				}
				send := func() (*http.Response, []byte) {
					req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer some-token-that-would-be-looked-up")
					res, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer res.Body.Close()
					b, _ := io.ReadAll(res.Body)
					return res, b
				}
				res, raw := send() // warm up
				best := time.Hour
				for i := 0; i < 5; i++ {
					runtime.GC()
					start := processCPU(t)
					res, raw = send()
					best = min(best, processCPU(t)-start)
				}
				var out struct {
					Data   json.RawMessage
					Errors []struct {
						Message    string
						Extensions map[string]any
					}
				}
				if err := json.Unmarshal(raw, &out); err != nil {
					t.Fatalf("status %d body %.200s: %v", res.StatusCode, raw, err)
				}
				if res.StatusCode != http.StatusOK || len(out.Errors) == 0 || (len(out.Data) > 0 && string(out.Data) != "null") {
					t.Fatalf("status %d, data %.200s, errors %+v: want a refusal", res.StatusCode, out.Data, out.Errors)
				}
				if len(out.Errors) > graph.MaxErrors+1 || len(raw) > 8<<10 {
					t.Errorf("answer of %d bytes with %d errors", len(raw), len(out.Errors))
				}
				for _, e := range out.Errors {
					if e.Extensions["code"] != "BAD_USER_INPUT" {
						t.Errorf("error %q has code %v", e.Message, e.Extensions["code"])
					}
				}
				if m := out.Errors[0].Message; strings.Contains(m, "token limit") {
					t.Errorf("refused by the token cap (%q): the case does not reach the layers it is for", m)
				}
				if n, m := sessions.touches.Load(), limiter.allows.Load(); n != 0 || m != 0 {
					t.Fatalf("%d session lookups and %d limiter calls for a refused document", n, m)
				}
				t.Logf("%d bytes refused in %v of process CPU: %.120s", len(body), best, out.Errors[0].Message)
				if best > budget {
					t.Errorf("refusal cost %v of process CPU; want under %v", best, budget)
				}
			})
		}
	}
}
