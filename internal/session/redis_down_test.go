package session

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/portal"
)

// TestRedisDown runs a private redis-server, freezes and then kills it,
// and checks that the store and limiter fail closed, fast, with
// ErrUnavailable; then restarts it on the same port and checks that the
// same client recovers by itself.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	addr := freeAddr(t)
	srv := startRedis(t, addr)

	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        []string{addr},
		DialTimeout:  200 * time.Millisecond,
		ReadTimeout:  200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond,
		MaxRetries:   1,
		// go-redis retries a failed dial 5 times, 100ms apart, by default:
		// about 0.4s per attempt before a call can fail.
		DialerRetries:      2,
		DialerRetryTimeout: 10 * time.Millisecond,
	})
	t.Cleanup(func() { client.Close() })
	st := NewRedis(client, "down:", testIdle, testMaxAge)
	lim := NewRedisLimiter(client, "down:")
	limit := portal.Limit{Rate: 10, Burst: 10, Period: time.Second}
	waitReady(t, client)

	s := newSession("u1", t0)
	mustCreate(t, st, s)
	mustTouch(t, st, s.Hash, t0)
	wantAllowed(t, lim, "k", limit, "while up")

	calls := map[string]func(ctx context.Context) error{
		"Create": func(ctx context.Context) error { return st.Create(ctx, newSession("u1", t0)) },
		"Touch": func(ctx context.Context) error {
			_, err := st.Touch(ctx, s.Hash, t0)
			return err
		},
		"FailCode": func(ctx context.Context) error {
			_, err := st.FailCode(ctx, s.Hash)
			return err
		},
		"Delete":     func(ctx context.Context) error { return st.Delete(ctx, s.Hash) },
		"DeleteUser": func(ctx context.Context) error { return st.DeleteUser(ctx, "u1") },
		"Ping":       func(ctx context.Context) error { return st.Ping(ctx) },
		"Allow": func(ctx context.Context) error {
			_, err := lim.Allow(ctx, "k", limit)
			return err
		},
	}
	wantUnavailable := func(state string, names ...string) {
		t.Helper()
		for _, name := range names {
			start := time.Now()
			err := calls[name](t.Context())
			took := time.Since(start)
			if !errors.Is(err, portal.ErrUnavailable) || portal.KindOf(err) != portal.KindUnavailable {
				t.Errorf("%s with Redis %s: %v (kind %s); want ErrUnavailable", name, state, err, portal.KindOf(err))
			}
			if took > time.Second {
				t.Errorf("%s with Redis %s took %v", name, state, took)
			}
			t.Logf("%s with Redis %s (%v): %v", name, state, took.Round(time.Millisecond), err)
		}
	}

	// A server that accepts but never answers: ReadTimeout ends the wait.
	srv.cmd.Process.Signal(syscall.SIGSTOP)
	wantUnavailable("hung", "Touch", "Allow")
	srv.cmd.Process.Signal(syscall.SIGCONT)
	waitReady(t, client)
	mustTouch(t, st, s.Hash, t0)

	// No server at all.
	srv.stop()
	wantUnavailable("down", "Create", "Touch", "FailCode", "Delete", "DeleteUser", "Ping", "Allow")

	startRedis(t, addr)
	waitReady(t, client)
	// The new server has no data: the old session is gone, not an error.
	wantNoSession(t, st, s.Hash, t0)
	s2 := newSession("u1", t0)
	mustCreate(t, st, s2)
	mustTouch(t, st, s2.Hash, t0.Add(time.Minute))
	wantAllowed(t, lim, "k", limit, "after restart")
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
}

type redisServer struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func (s *redisServer) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// startRedis starts a throwaway redis-server on addr, stopped at cleanup.
func startRedis(t *testing.T, addr string) *redisServer {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	s := &redisServer{cmd: exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("redis-server %s output:\n%s", addr, s.out.String())
		}
	})
	return s
}

// waitReady waits until client's server answers (so also that the client
// reconnects by itself).
func waitReady(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := client.Ping(t.Context()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns a 127.0.0.1 address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
