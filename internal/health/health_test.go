package health

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A failing dependency is down at the first check, logged once with its
// cause, again only once per LogEvery while it stays down, and logged as
// back when it answers; the other dependency is never named.
func TestMonitorLogsOnePerInterval(t *testing.T) {
	var logs bytes.Buffer
	var failing atomic.Bool
	m := New(slog.New(slog.NewTextHandler(&logs, nil)), Options{LogEvery: 10 * time.Second},
		Probe{Name: "database", Ping: func(context.Context) error { return nil }},
		Probe{Name: "session store", Ping: func(context.Context) error {
			if failing.Load() {
				return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
			}
			return nil
		}})
	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	ctx := context.Background()

	if err := m.Check(ctx); err != nil || m.Down() {
		t.Fatalf("all up: %v, down %v", err, m.Down())
	}
	failing.Store(true)
	for i := 0; i < 25; i++ { // 25 checks over 24 seconds
		err := m.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "session store: dial tcp") || !m.Down() {
			t.Fatalf("check %d while down: %v, down %v", i, err, m.Down())
		}
		now = now.Add(time.Second)
	}
	failing.Store(false)
	if err := m.Check(ctx); err != nil || m.Down() {
		t.Fatalf("after recovery: %v, down %v", err, m.Down())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines (down, still down twice, back), got %d:\n%s", len(lines), logs.String())
	}
	for i, want := range []string{"dependency unavailable", "dependency still unavailable", "dependency still unavailable", "dependency available again"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], `dependency="session store"`) {
			t.Errorf("line %d = %s, want %q about the session store", i, lines[i], want)
		}
		if i < 3 && !strings.Contains(lines[i], "connection refused") {
			t.Errorf("line %d has no cause: %s", i, lines[i])
		}
	}
}

// Run notices an outage within its interval, and Suspect makes it check
// at once; a probe that hangs is cut off by the timeout.
func TestMonitorRun(t *testing.T) {
	var hang atomic.Bool
	m := New(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
		Options{Every: time.Hour, EveryWhileDown: 10 * time.Millisecond, Timeout: 50 * time.Millisecond},
		Probe{Name: "database", Ping: func(ctx context.Context) error {
			if hang.Load() {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for m.Down() != want {
			if time.Now().After(deadline) {
				t.Fatalf("Down() did not become %v", want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(20 * time.Millisecond)
	hang.Store(true)
	m.Suspect() // without it the next check is an hour away
	waitFor(true)
	hang.Store(false)
	waitFor(false) // checked every 10ms while down
}
