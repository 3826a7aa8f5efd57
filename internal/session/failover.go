package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Failover tuning. A dead node costs a call about CallBudget at most, a
// node that accepts but never answers two read timeouts (go-redis tries
// twice); a failover that completes within CallBudget is not seen by the
// caller.
const (
	// CallBudget bounds a call, its retries of transient failures (a
	// refused dial, CLUSTERDOWN, TRYAGAIN, LOADING, ...) included, within
	// the caller's own deadline.
	CallBudget = time.Second
	// Timeouts of one attempt.
	DialTimeout = 400 * time.Millisecond
	IOTimeout   = 400 * time.Millisecond
)

// NewRedisClient returns the client for PORTAL_REDIS_URL (see
// RedisOptions): a single server, a Sentinel-managed master or a Cluster,
// with failover handling added.
//
// go-redis's Cluster client reloads its slot map only on a timer and on
// MOVED/ASK (go-redis issue 3979): after a master dies and its replica is
// promoted, calls for that master's slots keep dialling the dead address
// until the next timed reload. The hook added here reloads the slot map at
// once (ClusterClient.ReloadState, which coalesces concurrent requests)
// whenever a call fails with a dial error, a dropped connection or a
// CLUSTERDOWN/TRYAGAIN/LOADING/MASTERDOWN/READONLY answer, and retries the
// call until it succeeds, fails otherwise, or CallBudget (or the caller's
// deadline) runs out. Every command the session store and limiter send is
// safe to repeat: the worst a repeat can do is count one wrong code or
// attempt twice, which fails closed.
//
// A URL naming one server without saying cluster=true or cluster=false is
// asked (INFO cluster, once, now) whether it is a Cluster node; if it
// answers that it is, the client is a Cluster client with it as the seed.
func NewRedisClient(rawURL string) (redis.UniversalClient, error) {
	opt, err := RedisOptions(rawURL)
	if err != nil {
		return nil, err
	}
	if u, _ := url.Parse(rawURL); len(opt.Addrs) == 1 && opt.MasterName == "" && !u.Query().Has("cluster") {
		opt.IsClusterMode = clusterEnabled(opt)
	}
	client := redis.NewUniversalClient(opt)
	h := &failover{budget: CallBudget}
	if c, ok := client.(*redis.ClusterClient); ok {
		h.reload = func() { c.ReloadState(context.Background()) }
	}
	client.AddHook(h)
	return client, nil
}

// clusterEnabled asks the one server of opt whether it runs in cluster
// mode. A server that does not answer counts as not.
func clusterEnabled(opt *redis.UniversalOptions) bool {
	c := redis.NewClient(&redis.Options{Addr: opt.Addrs[0], Username: opt.Username, Password: opt.Password,
		TLSConfig: opt.TLSConfig, DialTimeout: opt.DialTimeout, ReadTimeout: opt.ReadTimeout, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "cluster").Result()
	return err == nil && strings.Contains(info, "cluster_enabled:1")
}

// failover is the go-redis hook described at NewRedisClient.
type failover struct {
	budget time.Duration
	reload func() // nil unless the client is a Cluster client
}

func (f *failover) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failover) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "ping" { // readiness answers at once
			return next(ctx, cmd)
		}
		ctx, cancel := f.bound(ctx)
		defer cancel()
		err := next(ctx, cmd)
		if !transient(err) {
			return err
		}
		return f.retry(ctx, err, func() error { return next(ctx, cmd) })
	}
}

func (f *failover) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, cancel := f.bound(ctx)
		defer cancel()
		run := func() error {
			err := next(ctx, cmds)
			for _, c := range cmds {
				if transient(c.Err()) {
					return c.Err()
				}
			}
			return err
		}
		err := run()
		if !transient(err) {
			return err
		}
		return f.retry(ctx, err, run)
	}
}

// bound gives ctx the call's budget as its deadline, unless it has an
// earlier one. go-redis stops dialling, waiting for a pooled connection
// and pausing between its own retries at that deadline.
func (f *failover) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.budget)
}

// retry reloads the topology and calls again, with a short growing pause,
// while the failure is transient and ctx's deadline leaves time.
func (f *failover) retry(ctx context.Context, err error, call func() error) error {
	deadline, _ := ctx.Deadline()
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		if f.reload != nil {
			f.reload()
		}
		if time.Until(deadline) < pause {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		if err = call(); !transient(err) {
			return err
		}
	}
}

// transient reports whether err says the server (or the route to it) is
// away for now, as opposed to an answer: such a call may succeed once the
// topology has settled.
func transient(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		redis.IsClusterDownError(err), redis.IsTryAgainError(err), redis.IsLoadingError(err),
		redis.IsMasterDownError(err), redis.IsReadOnlyError(err):
		return true
	}
	// Not a timeout reading an answer: a node that accepts but does not
	// answer has already cost the call its read timeout, and asking it
	// again would only double that.
	return false
}

// ping checks that client can serve every key. A Cluster is ready only if
// each of the 16384 slots has a master and every master answers: a slot
// whose master is gone would fail the sessions that hash to it.
func ping(ctx context.Context, client redis.UniversalClient) error {
	c, ok := client.(*redis.ClusterClient)
	if !ok {
		return client.Ping(ctx).Err()
	}
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return err
	}
	served := 0
	for _, s := range slots {
		if len(s.Nodes) > 0 {
			served += s.End - s.Start + 1
		}
	}
	if served != 16384 {
		return fmt.Errorf("cluster serves %d of 16384 slots", served)
	}
	return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if err := m.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("master %s: %w", m.Options().Addr, err)
		}
		return nil
	})
}

// RedisLogger adapts log for redis.SetLogger, so that go-redis's own lines
// (dial failures during an outage, failovers seen) are structured log
// records like the server's, at Warn level.
func RedisLogger(log *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLog{log}
}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
