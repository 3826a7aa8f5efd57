package session

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/portal"
)

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	m := NewMemory(testIdle, testMaxAge)
	idle, old, live := newSession("u1", t0), newSession("u1", t0), newSession("u2", t0)
	old.CreatedAt = t0.Add(-testMaxAge + time.Minute)
	for _, s := range []*portal.Session{idle, old, live} {
		mustCreate(t, m, s)
	}
	mustTouch(t, m, live.Hash, t0.Add(4*time.Minute))
	mustTouch(t, m, old.Hash, t0.Add(59*time.Second)) // 1s short of maxAge

	if n := m.Sweep(t0.Add(59 * time.Second)); n != 0 {
		t.Fatalf("early Sweep removed %d", n)
	}
	// idle is idle for too long, old too old (though touched 4m2s ago).
	if n := m.Sweep(t0.Add(testIdle + time.Second)); n != 2 || m.Len() != 1 {
		t.Fatalf("Sweep removed %d, left %d; want 2 removed, 1 left", n, m.Len())
	}
	mustTouch(t, m, live.Hash, t0.Add(testIdle+time.Second))
	if len(m.byUser) != 1 {
		t.Fatalf("user index not cleaned: %v", m.byUser)
	}
}

func TestMemoryRun(t *testing.T) {
	t.Parallel()
	m := NewMemory(testIdle, testMaxAge)
	mustCreate(t, m, newSession("u1", t0))
	clock := &fakeClock{now: t0.Add(time.Hour)}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { m.Run(ctx, clock, time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not sweep the expired session")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when ctx ended")
	}
}

func TestMemoryLimiterForgetsFullKeys(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: t0}
	l := NewMemoryLimiter(clock)
	lim := portal.Limit{Rate: 1, Burst: 3, Period: time.Second}
	for i := range 1000 {
		wantAllowed(t, l, fmt.Sprint("ip-", i), lim, "first attempt")
	}
	wantAllowed(t, l, "busy", lim, "busy 1")
	wantAllowed(t, l, "busy", lim, "busy 2")
	wantAllowed(t, l, "busy", lim, "busy 3")
	if len(l.tat) != 1001 {
		t.Fatalf("%d keys, want 1001", len(l.tat))
	}
	// After the sweep interval every key is back at a full burst.
	clock.Advance(sweepEvery)
	wantAllowed(t, l, "new", lim, "new key")
	if len(l.tat) != 1 {
		t.Fatalf("%d keys after sweep, want 1", len(l.tat))
	}
	// Forgetting a key is the same as a full bucket.
	for i := range lim.Burst {
		wantAllowed(t, l, "busy", lim, fmt.Sprint("busy again ", i+1))
	}
	wantDenied(t, l, "busy", lim, time.Second)
}
