package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the raw baseline, as the bench
// binary does, when the harness starts it so.
func TestMain(m *testing.M) {
	if os.Getenv(envRaw) != "" {
		serveRaw()
		return
	}
	os.Exit(m.Run())
}

// TestHarnessTiny runs the whole harness in a tiny configuration, so that
// it keeps working: seeding, signing in, both servers, every workload on
// both backends, byte-identical answers, no failed request.
func TestHarnessTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	o := defaults()
	o.redisURL = "redis://127.0.0.1:6379/14"
	if u := os.Getenv("PORTAL_TEST_REDIS_URL"); u != "" {
		o.redisURL = u
	}
	o.users, o.orgs, o.orgUsers, o.sessions = 400, 1, 20, 3
	o.rounds, o.duration, o.conns = 2, 150*time.Millisecond, []int{2}
	var out bytes.Buffer
	o.out = &out
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := runBench(ctx, o)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.void() {
		t.Fatal("the run is void")
	}
	for _, s := range []*section{rep.pg, rep.embedded} {
		if s == nil {
			t.Fatal("a backend was not measured")
		}
		names := map[string]bool{}
		for _, rw := range s.rows {
			names[rw.workload] = true
			if len(rw.ours) != o.rounds {
				t.Errorf("%s %s: %d runs of ours, want %d", s.name, rw.workload, len(rw.ours), o.rounds)
			}
			for _, r := range rw.ours {
				if r.reqs == 0 || r.cpu < 0 || r.allocs <= 0 {
					t.Errorf("%s %s: implausible run %+v", s.name, rw.workload, r)
				}
			}
			wantRaw := s == rep.pg && rw.workload != "login"
			if got := len(rw.raw) == o.rounds; got != wantRaw {
				t.Errorf("%s %s: %d raw runs", s.name, rw.workload, len(rw.raw))
			}
		}
		for _, w := range []string{"me, 1 session", "me, 3 sessions", "users page, by name", "users page, by name, after row 360",
			"users page, by last active, after row 360", "users page, filtered (VIEWER, ACTIVE)", "changeRole", "login"} {
			if !names[w] {
				t.Errorf("%s: workload %q not measured", s.name, w)
			}
		}
	}
	if !strings.Contains(out.String(), "ours/raw req/s") || !strings.Contains(out.String(), "argon2id ceiling") {
		t.Error("the report lacks the ratios")
	}
}

// TestVoidOnDifference: answers that differ by one byte void a run.
func TestSameBytes(t *testing.T) {
	if err := sameBytes([]byte(`{"a":1}`), []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := sameBytes([]byte(`{"a":1}`), []byte(`{"a":2}`)); err == nil {
		t.Fatal("different answers compared equal")
	}
}
