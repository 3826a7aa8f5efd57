package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/redistest"
)

// The contract of every store, on a real six-node Cluster and on a real
// Sentinel set-up, through the client the server uses.

func TestClusterSessionStore(t *testing.T) {
	t.Parallel()
	client := newClient(t, redistest.StartCluster(t, redistest.ClusterOptions{}).URL())
	testSessionStore(t, func(t *testing.T, idle, maxAge time.Duration) portal.SessionStore {
		return NewRedis(client, "test:"+hexBytes(8)+":", idle, maxAge)
	})
	t.Run("Limiter", func(t *testing.T) {
		testLimiter(t, func(t *testing.T) (portal.Limiter, func(time.Duration)) {
			return NewRedisLimiter(client, "test:"+hexBytes(8)+":"), time.Sleep
		})
	})
}

func TestSentinelSessionStore(t *testing.T) {
	t.Parallel()
	client := newClient(t, redistest.StartSentinel(t, 1, 5*time.Second).URL())
	testSessionStore(t, func(t *testing.T, idle, maxAge time.Duration) portal.SessionStore {
		return NewRedis(client, "test:"+hexBytes(8)+":", idle, maxAge)
	})
}

func newClient(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	client, err := NewRedisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// TestClusterSpread: sessions (even of one user) land on every master in
// proportion, none with more than half. The client is given one node
// only, and finds out by itself that it is a Cluster.
func TestClusterSpread(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	client := newClient(t, "redis://"+c.Nodes[4].Addr)
	if _, ok := client.(*redis.ClusterClient); !ok {
		t.Fatalf("one Cluster node makes a %T", client)
	}
	if _, ok := newClient(t, "redis://"+c.Nodes[4].Addr+"?cluster=false").(*redis.Client); !ok {
		t.Fatal("cluster=false is not obeyed")
	}
	st := NewRedis(client, "spread:", time.Hour, time.Hour)
	const n = 600
	for i := range n {
		mustCreate(t, st, newSession([]string{"u1", "u2", "u3"}[i%3], t0))
	}
	total := 0
	for _, sh := range c.Shards() {
		keys, err := sh.Master.Client().Keys(t.Context(), "spread:s:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		share := float64(len(keys)) / n
		t.Logf("master %s holds %d sessions (%.0f%%)", sh.Master.Addr, len(keys), 100*share)
		if share > 0.5 || share < 0.2 {
			t.Errorf("master %s holds %.0f%% of the sessions", sh.Master.Addr, 100*share)
		}
		total += len(keys)
	}
	if total != n {
		t.Fatalf("masters hold %d sessions, want %d", total, n)
	}
}

// TestClusterFailover kills a master under a steady load of Touch calls.
// Until its replica is promoted, calls for its slots fail with
// ErrUnavailable (never ErrNoSession: nobody is signed out), each within
// about a second, and Ping fails; within 2 s of the promotion every call
// succeeds again and Ping passes; no session is lost.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{NodeTimeout: 2 * time.Second})
	testFailover(t, c.URL(), func() (kill func(), promoted func() time.Time) {
		victim := c.Shards()[0]
		return victim.Master.Kill, func() time.Time {
			c.WaitMaster(victim.Replicas[0].Addr, 30*time.Second)
			return time.Now()
		}
	})
}

// TestSentinelFailover does the same with Sentinel.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, 1, time.Second)
	testFailover(t, s.URL(), func() (kill func(), promoted func() time.Time) {
		return s.Master.Kill, func() time.Time {
			deadline := time.Now().Add(30 * time.Second)
			for s.MasterAddr() != s.Replicas[0].Addr {
				if time.Now().After(deadline) {
					t.Fatal("sentinels did not promote the replica")
				}
				time.Sleep(5 * time.Millisecond)
			}
			return time.Now()
		}
	})
}

func testFailover(t *testing.T, url string, setup func() (kill func(), promoted func() time.Time)) {
	st := NewRedis(newClient(t, url), "failover:", time.Hour, 2*time.Hour)
	var sessions []*portal.Session
	for i := range 300 {
		s := newSession("u"+string(rune('a'+i%26)), t0)
		mustCreate(t, st, s)
		sessions = append(sessions, s)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping before: %v", err)
	}
	kill, promoted := setup()

	type result struct {
		at, took time.Duration
		err      error
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	start := time.Now()
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := sessions[rand.IntN(len(sessions))]
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				begin := time.Since(start)
				_, err := st.Touch(ctx, s.Hash, t0.Add(time.Minute))
				cancel()
				mu.Lock()
				results = append(results, result{begin, time.Since(start) - begin, err})
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	killedAt := time.Since(start)
	kill()
	// Before the promotion, readiness fails.
	pingErr := st.Ping(t.Context())
	promotedAt := promoted().Sub(start)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("killed at %v, promoted at %v (%v later)", killedAt.Round(time.Millisecond),
		promotedAt.Round(time.Millisecond), (promotedAt - killedAt).Round(time.Millisecond))
	if pingErr == nil || !errors.Is(pingErr, portal.ErrUnavailable) {
		t.Errorf("Ping just after the master died: %v, want ErrUnavailable", pingErr)
	}

	var failed int
	var lastFailure, longest time.Duration
	for _, r := range results {
		longest = max(longest, r.took)
		if r.err == nil {
			continue
		}
		failed++
		lastFailure = max(lastFailure, r.at+r.took)
		if !errors.Is(r.err, portal.ErrUnavailable) || errors.Is(r.err, portal.ErrNoSession) {
			t.Errorf("Touch at %v failed with %v, want ErrUnavailable", r.at, r.err)
		}
		if r.at+r.took < killedAt {
			t.Errorf("Touch at %v, before the kill, failed: %v", r.at, r.err)
		}
	}
	t.Logf("%d calls, %d failed; last failure ended %v after the promotion; longest call %v",
		len(results), failed, (lastFailure - promotedAt).Round(time.Millisecond), longest.Round(time.Millisecond))
	if lastFailure > promotedAt+2*time.Second {
		t.Errorf("calls still failed %v after the promotion", lastFailure-promotedAt)
	}
	if longest > 1500*time.Millisecond {
		t.Errorf("a call took %v", longest)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping after the promotion: %v", err)
	}
	for _, s := range sessions {
		if _, err := st.Touch(t.Context(), s.Hash, t0.Add(2*time.Minute)); err != nil {
			t.Fatalf("session lost in the failover: %v", err)
		}
	}
}

// TestClusterPingNeedsEverySlot: a Cluster whose master for some slots is
// gone, with no replica to take over, is not ready.
func TestClusterPingNeedsEverySlot(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{NodeTimeout: time.Second})
	st := NewRedis(newClient(t, c.URL()), "ping:", time.Hour, time.Hour)
	if err := st.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	sh := c.Shards()[1]
	sh.Replicas[0].Kill()
	sh.Master.Kill()
	for range 3 { // straight away, and once the cluster has noticed
		err := st.Ping(t.Context())
		if !errors.Is(err, portal.ErrUnavailable) {
			t.Fatalf("Ping with a shard gone: %v", err)
		}
		t.Logf("Ping: %v", err)
		if !strings.Contains(err.Error(), "master") && !strings.Contains(err.Error(), "slots") {
			t.Errorf("Ping error does not say why: %v", err)
		}
		time.Sleep(1500 * time.Millisecond)
	}
	// Once the others have noticed, they answer CLUSTERDOWN for every key:
	// also transient.
	var live *redistest.Server
	for _, other := range c.Shards() {
		live = other.Master
	}
	err := live.Client().Get(t.Context(), "k").Err()
	if !redis.IsClusterDownError(err) || !transient(err) {
		t.Errorf("a live node of a broken cluster answers %v (transient %v)", err, transient(err))
	}
}
