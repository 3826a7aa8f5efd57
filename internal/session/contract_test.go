package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// t0 is the fake "now" every session test starts from; tests pass explicit
// times derived from it (a whole number of milliseconds, which is the
// precision the Redis store keeps).
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

const (
	testIdle   = 5 * time.Minute
	testMaxAge = time.Hour
)

func TestMemorySessionStore(t *testing.T) {
	t.Parallel()
	testSessionStore(t, func(t *testing.T, idle, maxAge time.Duration) portal.SessionStore {
		return NewMemory(idle, maxAge)
	})
}

func TestRedisSessionStore(t *testing.T) {
	t.Parallel()
	testSessionStore(t, func(t *testing.T, idle, maxAge time.Duration) portal.SessionStore {
		client := testRedis(t)
		return NewRedis(client, testPrefix(t, client), idle, maxAge)
	})
}

func TestMemoryLimiter(t *testing.T) {
	t.Parallel()
	testLimiter(t, func(t *testing.T) (portal.Limiter, func(time.Duration)) {
		clock := &fakeClock{now: t0}
		return NewMemoryLimiter(clock), clock.Advance
	})
}

func TestRedisLimiter(t *testing.T) {
	t.Parallel()
	testLimiter(t, func(t *testing.T) (portal.Limiter, func(time.Duration)) {
		client := testRedis(t)
		// redis_rate reads the Redis server's clock: time must really pass.
		return NewRedisLimiter(client, testPrefix(t, client)), time.Sleep
	})
}

// testSessionStore is the contract every portal.SessionStore must pass.
// newStore returns an empty store (isolated from every other call).
func testSessionStore(t *testing.T, newStore func(t *testing.T, idle, maxAge time.Duration) portal.SessionStore) {
	store := func(t *testing.T) portal.SessionStore { return newStore(t, testIdle, testMaxAge) }

	t.Run("CreateThenTouch", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		s := newSession("u1", t0)
		s.Stage, s.FailedCodes = portal.StageTwoFactor, 2
		mustCreate(t, st, s)

		got := mustTouch(t, st, s.Hash, t0.Add(time.Minute))
		want := *s
		want.LastSeenAt = t0.Add(time.Minute)
		assertSession(t, got, &want)

		// The result is a copy: changing it changes nothing stored.
		got.UserID, got.FailedCodes = "someone else", 99
		assertSession(t, mustTouch(t, st, s.Hash, t0.Add(time.Minute)), &want)
		// Nor does changing the session passed to Create.
		s.OrgID = "changed"
		assertSession(t, mustTouch(t, st, s.Hash, t0.Add(time.Minute)), &want)
	})

	t.Run("TouchSlidesIdle", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		s := newSession("u1", t0)
		mustCreate(t, st, s)
		for _, at := range []time.Duration{4 * time.Minute, 8 * time.Minute, 12 * time.Minute} {
			got := mustTouch(t, st, s.Hash, t0.Add(at))
			if !got.LastSeenAt.Equal(t0.Add(at)) || !got.CreatedAt.Equal(t0) {
				t.Fatalf("touch at +%v: LastSeenAt %v CreatedAt %v", at, got.LastSeenAt, got.CreatedAt)
			}
		}
	})

	t.Run("TouchNeverMovesLastSeenBack", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		s := newSession("u1", t0)
		mustCreate(t, st, s)
		mustTouch(t, st, s.Hash, t0.Add(4*time.Minute))
		got := mustTouch(t, st, s.Hash, t0.Add(time.Minute)) // e.g. a server with a slow clock
		if !got.LastSeenAt.Equal(t0.Add(4 * time.Minute)) {
			t.Fatalf("LastSeenAt = %v, want %v", got.LastSeenAt, t0.Add(4*time.Minute))
		}
	})

	t.Run("IdleExpiry", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		edge, late := newSession("u1", t0), newSession("u1", t0)
		mustCreate(t, st, edge)
		mustCreate(t, st, late)

		mustTouch(t, st, edge.Hash, t0.Add(testIdle)) // exactly idle: still valid
		wantNoSession(t, st, late.Hash, t0.Add(testIdle+time.Second))
		// Expiry deleted it: a later touch, even one within idle of the
		// failed one, still fails.
		wantNoSession(t, st, late.Hash, t0.Add(testIdle+2*time.Second))
		wantNoSession(t, st, late.Hash, t0)
		if _, err := st.FailCode(t.Context(), late.Hash); !errors.Is(err, portal.ErrNoSession) {
			t.Fatalf("FailCode after expiry: %v, want ErrNoSession", err)
		}
	})

	t.Run("AbsoluteLifetime", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		s := newSession("u1", t0)
		mustCreate(t, st, s)
		step := 4 * time.Minute
		at := step
		for ; at < testMaxAge; at += step {
			mustTouch(t, st, s.Hash, t0.Add(at))
		}
		if at != testMaxAge {
			t.Fatalf("test setup: maxAge %v is not a multiple of %v", testMaxAge, step)
		}
		wantNoSession(t, st, s.Hash, t0.Add(at))
		wantNoSession(t, st, s.Hash, t0.Add(at-time.Minute))
	})

	t.Run("FailCode", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		s := newSession("u1", t0)
		s.Stage = portal.StageTwoFactor
		mustCreate(t, st, s)
		for want := 1; want <= 3; want++ {
			n, err := st.FailCode(t.Context(), s.Hash)
			if err != nil || n != want {
				t.Fatalf("FailCode = %d, %v; want %d", n, err, want)
			}
		}
		if got := mustTouch(t, st, s.Hash, t0.Add(time.Minute)); got.FailedCodes != 3 {
			t.Fatalf("after touch FailedCodes = %d, want 3", got.FailedCodes)
		}
		if n, err := st.FailCode(t.Context(), s.Hash); err != nil || n != 4 {
			t.Fatalf("FailCode after touch = %d, %v; want 4", n, err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		a, b, c := newSession("u1", t0), newSession("u1", t0), newSession("u2", t0)
		for _, s := range []*portal.Session{a, b, c} {
			mustCreate(t, st, s)
		}
		mustDelete(t, st, a.Hash)
		wantNoSession(t, st, a.Hash, t0)
		mustTouch(t, st, b.Hash, t0)
		mustTouch(t, st, c.Hash, t0)
		mustDelete(t, st, a.Hash)        // again
		mustDelete(t, st, randomHash(t)) // never existed
		// The user index no longer holds a: ending u1 ends b and keeps c.
		if err := st.DeleteUser(t.Context(), "u1"); err != nil {
			t.Fatal(err)
		}
		wantNoSession(t, st, b.Hash, t0)
		mustTouch(t, st, c.Hash, t0)
	})

	t.Run("DeleteUser", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		a, b, c := newSession("u1", t0), newSession("u1", t0), newSession("u2", t0)
		for _, s := range []*portal.Session{a, b, c} {
			mustCreate(t, st, s)
		}
		if err := st.DeleteUser(t.Context(), "u1"); err != nil {
			t.Fatal(err)
		}
		wantNoSession(t, st, a.Hash, t0)
		wantNoSession(t, st, b.Hash, t0)
		mustTouch(t, st, c.Hash, t0)
		if err := st.DeleteUser(t.Context(), "nobody"); err != nil {
			t.Fatalf("DeleteUser of a user without sessions: %v", err)
		}
		// The user can sign in again, and that session is indexed too.
		d := newSession("u1", t0)
		mustCreate(t, st, d)
		mustTouch(t, st, d.Hash, t0)
		if err := st.DeleteUser(t.Context(), "u1"); err != nil {
			t.Fatal(err)
		}
		wantNoSession(t, st, d.Hash, t0)
		mustTouch(t, st, c.Hash, t0)
	})

	t.Run("NoResurrection", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		s := newSession("u1", t0)
		mustCreate(t, st, s)
		mustDelete(t, st, s.Hash)
		wantNoSession(t, st, s.Hash, t0.Add(time.Second))
		if _, err := st.FailCode(t.Context(), s.Hash); !errors.Is(err, portal.ErrNoSession) {
			t.Fatalf("FailCode after Delete: %v, want ErrNoSession", err)
		}
		wantNoSession(t, st, s.Hash, t0.Add(2*time.Second))
	})

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		h := randomHash(t)
		_, err := st.Touch(t.Context(), h, t0)
		if !errors.Is(err, portal.ErrNoSession) || portal.KindOf(err) != portal.KindUnauthenticated {
			t.Fatalf("Touch of a missing session: %v (kind %s)", err, portal.KindOf(err))
		}
		if _, err := st.FailCode(t.Context(), h); !errors.Is(err, portal.ErrNoSession) {
			t.Fatalf("FailCode of a missing session: %v", err)
		}
		wantNoSession(t, st, h, t0) // neither call created it
	})

	t.Run("ReplaceSameHash", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		s := newSession("u1", t0)
		mustCreate(t, st, s)
		r := *s
		r.UserID, r.FailedCodes = "u2", 1
		mustCreate(t, st, &r)
		assertSession(t, mustTouch(t, st, s.Hash, t0), &r)
		// It left u1's index: ending u1 does not end it, ending u2 does.
		if err := st.DeleteUser(t.Context(), "u1"); err != nil {
			t.Fatal(err)
		}
		mustTouch(t, st, s.Hash, t0)
		if err := st.DeleteUser(t.Context(), "u2"); err != nil {
			t.Fatal(err)
		}
		wantNoSession(t, st, s.Hash, t0)
	})

	t.Run("CreateNeedsHashAndUser", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		for _, s := range []*portal.Session{{UserID: "u1"}, {Hash: randomHash(t)}} {
			if err := st.Create(t.Context(), s); err == nil {
				t.Errorf("Create(%+v) succeeded", s)
			}
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := store(t).Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Rotate", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		waiting := newSession("u1", t0)
		waiting.Stage, waiting.FailedCodes = portal.StageTwoFactor, 2
		mustCreate(t, st, waiting)
		full := newSession("u1", t0)
		full.LastSeenAt = t0.Add(time.Minute)
		if err := st.Rotate(t.Context(), waiting.Hash, full); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		wantNoSession(t, st, waiting.Hash, t0.Add(time.Minute))
		assertSession(t, mustTouch(t, st, full.Hash, t0.Add(time.Minute)), full)
		// Rotating the same session again finds nothing and stores nothing.
		again := newSession("u1", t0)
		if err := st.Rotate(t.Context(), waiting.Hash, again); !errors.Is(err, portal.ErrNoSession) {
			t.Fatalf("second Rotate: %v, want ErrNoSession", err)
		}
		wantNoSession(t, st, again.Hash, t0.Add(time.Minute))
		// The successor is in its user's index.
		if err := st.DeleteUser(t.Context(), "u1"); err != nil {
			t.Fatal(err)
		}
		wantNoSession(t, st, full.Hash, t0.Add(time.Minute))
	})

	t.Run("RotateRefusesMissingOrForeign", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		next := newSession("u1", t0)
		if err := st.Rotate(t.Context(), randomHash(t), next); !errors.Is(err, portal.ErrNoSession) {
			t.Fatalf("Rotate of a missing session: %v, want ErrNoSession", err)
		}
		wantNoSession(t, st, next.Hash, t0)
		// Another user's session is not replaced.
		other := newSession("u2", t0)
		mustCreate(t, st, other)
		if err := st.Rotate(t.Context(), other.Hash, next); !errors.Is(err, portal.ErrNoSession) {
			t.Fatalf("Rotate of another user's session: %v, want ErrNoSession", err)
		}
		wantNoSession(t, st, next.Hash, t0)
		assertSession(t, mustTouch(t, st, other.Hash, t0), other)
		for _, bad := range []*portal.Session{{UserID: "u2"}, {Hash: randomHash(t)}} {
			if err := st.Rotate(t.Context(), other.Hash, bad); err == nil {
				t.Errorf("Rotate to %+v succeeded", bad)
			}
		}
		mustTouch(t, st, other.Hash, t0)
	})

	t.Run("RotateRacing", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		waiting := newSession("u1", t0)
		mustCreate(t, st, waiting)
		// Many requests rotate one waiting session at once: exactly one
		// successor comes to exist.
		const n = 20
		next := make([]*portal.Session, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			next[i] = newSession("u1", t0)
			wg.Go(func() { errs[i] = st.Rotate(t.Context(), waiting.Hash, next[i]) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				mustTouch(t, st, next[i].Hash, t0)
			case errors.Is(err, portal.ErrNoSession):
				wantNoSession(t, st, next[i].Hash, t0)
			default:
				t.Fatalf("Rotate %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d rotations succeeded, want 1", won)
		}
		wantNoSession(t, st, waiting.Hash, t0)
	})

	t.Run("TouchRacingDeleteUser", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		var mine []*portal.Session
		for range 10 {
			s := newSession("victim", t0)
			mustCreate(t, st, s)
			mine = append(mine, s)
		}
		other := newSession("bystander", t0)
		mustCreate(t, st, other)

		// Touches run before, during and after DeleteUser; each goroutine
		// stops after its first round of touches that starts once
		// DeleteUser has returned, and every touch of that round must fail.
		ctx := t.Context()
		var wg sync.WaitGroup
		start, deleted := make(chan struct{}), make(chan struct{})
		for g := range 50 {
			wg.Go(func() {
				<-start
				for i := 0; ; i++ {
					after := false
					select {
					case <-deleted:
						after = true
					default:
					}
					for j, s := range mine {
						_, err := st.Touch(ctx, s.Hash, t0.Add(time.Duration(g+i+j)*time.Millisecond))
						if after && !errors.Is(err, portal.ErrNoSession) || err != nil && !errors.Is(err, portal.ErrNoSession) {
							t.Errorf("Touch (after DeleteUser returned: %v): %v", after, err)
							return
						}
					}
					if after {
						return
					}
				}
			})
		}
		wg.Go(func() {
			defer close(deleted)
			<-start
			time.Sleep(5 * time.Millisecond)
			if err := st.DeleteUser(ctx, "victim"); err != nil {
				t.Errorf("DeleteUser: %v", err)
			}
		})
		close(start)
		wg.Wait()
		for _, s := range mine {
			wantNoSession(t, st, s.Hash, t0.Add(time.Minute))
		}
		mustTouch(t, st, other.Hash, t0.Add(time.Minute))
	})
}

// testLimiter is the contract every portal.Limiter must pass. newLimiter
// returns an isolated limiter and a function that lets time pass for it.
func testLimiter(t *testing.T, newLimiter func(t *testing.T) (portal.Limiter, func(time.Duration))) {
	t.Run("Burst", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		lim := portal.Limit{Rate: 1, Burst: 5, Period: time.Minute}
		for i := range lim.Burst {
			wantAllowed(t, l, "a", lim, fmt.Sprintf("attempt %d", i+1))
		}
		// The next attempt must wait for one refill: 60s (rounded up).
		wantDenied(t, l, "a", lim, time.Minute)
		wantDenied(t, l, "a", lim, time.Minute) // denied attempts take nothing

		// Another key has its own full burst.
		for i := range lim.Burst {
			wantAllowed(t, l, "b", lim, fmt.Sprintf("key b attempt %d", i+1))
		}
		wantDenied(t, l, "b", lim, time.Minute)
	})

	t.Run("Refill", func(t *testing.T) {
		t.Parallel()
		l, wait := newLimiter(t)
		lim := portal.Limit{Rate: 2, Burst: 2, Period: time.Second} // one per 500ms
		wantAllowed(t, l, "k", lim, "attempt 1")
		wantAllowed(t, l, "k", lim, "attempt 2")
		wantDenied(t, l, "k", lim, time.Second) // 500ms, rounded up
		wait(600 * time.Millisecond)
		wantAllowed(t, l, "k", lim, "after one refill")
		wantDenied(t, l, "k", lim, time.Second)
	})

	t.Run("InvalidLimit", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		for _, lim := range []portal.Limit{{Burst: 1, Period: time.Second}, {Rate: 1, Period: time.Second}, {Rate: 1, Burst: 1}} {
			if _, err := l.Allow(t.Context(), "k", lim); err == nil {
				t.Errorf("Allow with %+v succeeded", lim)
			}
		}
	})
}

func wantAllowed(t *testing.T, l portal.Limiter, key string, lim portal.Limit, what string) {
	t.Helper()
	if d, err := l.Allow(t.Context(), key, lim); err != nil || d != 0 {
		t.Fatalf("%s: Allow = %v, %v; want allowed", what, d, err)
	}
}

func wantDenied(t *testing.T, l portal.Limiter, key string, lim portal.Limit, retry time.Duration) {
	t.Helper()
	if d, err := l.Allow(t.Context(), key, lim); err != nil || d != retry {
		t.Fatalf("Allow = %v, %v; want denied with retryAfter %v", d, err, retry)
	}
}

func newSession(userID string, at time.Time) *portal.Session {
	return &portal.Session{
		Hash:       hexBytes(32),
		UserID:     userID,
		OrgID:      "org-1",
		Role:       access.Admin,
		Stage:      portal.StageFull,
		CreatedAt:  at,
		LastSeenAt: at,
	}
}

// randomHash returns a hash no session has.
func randomHash(*testing.T) string { return hexBytes(32) }

func hexBytes(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func mustCreate(t *testing.T, st portal.SessionStore, s *portal.Session) {
	t.Helper()
	if err := st.Create(t.Context(), s); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

func mustTouch(t *testing.T, st portal.SessionStore, hash string, now time.Time) *portal.Session {
	t.Helper()
	s, err := st.Touch(t.Context(), hash, now)
	if err != nil {
		t.Fatalf("Touch at %v: %v", now.Sub(t0), err)
	}
	return s
}

func mustDelete(t *testing.T, st portal.SessionStore, hash string) {
	t.Helper()
	if err := st.Delete(t.Context(), hash); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

func wantNoSession(t *testing.T, st portal.SessionStore, hash string, now time.Time) {
	t.Helper()
	if s, err := st.Touch(t.Context(), hash, now); !errors.Is(err, portal.ErrNoSession) {
		t.Fatalf("Touch at %v = %+v, %v; want ErrNoSession", now.Sub(t0), s, err)
	}
}

func assertSession(t *testing.T, got, want *portal.Session) {
	t.Helper()
	if got.Hash != want.Hash || got.UserID != want.UserID || got.OrgID != want.OrgID ||
		got.Role != want.Role || got.Stage != want.Stage || got.FailedCodes != want.FailedCodes ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeenAt.Equal(want.LastSeenAt) {
		t.Fatalf("session\n got %+v\nwant %+v", got, want)
	}
}

// fakeClock is a portal.Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testRedis connects to the shared test Redis (PORTAL_TEST_REDIS_URL,
// default redis://127.0.0.1:6379/0). Tests must keep to their own
// testPrefix there.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	url := testRedisURL()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("PORTAL_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("test Redis at %s: %v (set PORTAL_TEST_REDIS_URL)", url, err)
	}
	return client
}

// testPrefix returns a key prefix unique to this test and deletes every
// key under it (and the redis_rate keys under it) when the test ends.
func testPrefix(t *testing.T, client *redis.Client) string {
	t.Helper()
	prefix := "test:" + hexBytes(8) + ":"
	t.Cleanup(func() {
		ctx := context.Background() // t.Context is already done here
		for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
			iter := client.Scan(ctx, 0, pattern, 100).Iterator()
			for iter.Next(ctx) {
				client.Del(ctx, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Errorf("cleaning %s: %v", pattern, err)
			}
		}
	})
	return prefix
}

// testRedisURL is PORTAL_TEST_REDIS_URL, default redis://127.0.0.1:6379/0.
func testRedisURL() string {
	if url := os.Getenv("PORTAL_TEST_REDIS_URL"); url != "" {
		return url
	}
	return "redis://127.0.0.1:6379/0"
}
