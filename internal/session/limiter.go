package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/portal"
)

var (
	_ portal.Limiter = (*RedisLimiter)(nil)
	_ portal.Limiter = (*MemoryLimiter)(nil)
)

// RedisLimiter is a portal.Limiter shared by every process using the same
// Redis (GCRA, via redis_rate). It keys its state "rate:{prefix}{key}" and
// uses the Redis server's clock.
type RedisLimiter struct {
	rl     *redis_rate.Limiter
	prefix string
}

// NewRedisLimiter returns a limiter on client.
func NewRedisLimiter(client redis.UniversalClient, prefix string) *RedisLimiter {
	return &RedisLimiter{rl: redis_rate.NewLimiter(client), prefix: prefix}
}

// Allow takes one attempt for key. It returns 0 when allowed, or else the
// wait until the next attempt can pass, rounded up to whole seconds.
// Calls for one key should always pass the same Limit.
func (l *RedisLimiter) Allow(ctx context.Context, key string, lim portal.Limit) (time.Duration, error) {
	if err := checkLimit(lim); err != nil {
		return 0, err
	}
	res, err := l.rl.Allow(ctx, l.prefix+key, redis_rate.Limit{Rate: lim.Rate, Burst: lim.Burst, Period: lim.Period})
	if err != nil {
		return 0, unavailable("rate limit", err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return ceilSecond(res.RetryAfter), nil
}

// MemoryLimiter is an in-process portal.Limiter (GCRA). Its state is per
// process. A key is forgotten once it is back to a full burst, so memory
// is bounded by the keys seen within about Burst*Period/Rate.
type MemoryLimiter struct {
	clock portal.Clock

	mu        sync.Mutex
	tat       map[string]time.Time // theoretical arrival time per key
	lastSweep time.Time
}

// sweepEvery is how often MemoryLimiter drops keys back at a full burst.
const sweepEvery = time.Minute

// NewMemoryLimiter returns a limiter that reads the time from clock.
func NewMemoryLimiter(clock portal.Clock) *MemoryLimiter {
	return &MemoryLimiter{clock: clock, tat: make(map[string]time.Time)}
}

// Allow takes one attempt for key. It returns 0 when allowed, or else the
// wait until the next attempt can pass, rounded up to whole seconds.
// Calls for one key should always pass the same Limit.
func (l *MemoryLimiter) Allow(_ context.Context, key string, lim portal.Limit) (time.Duration, error) {
	if err := checkLimit(lim); err != nil {
		return 0, err
	}
	now := l.clock.Now()
	interval := lim.Period / time.Duration(lim.Rate) // one event's share of the period

	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	tat, ok := l.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-interval * time.Duration(lim.Burst))
	if now.Before(allowAt) {
		return ceilSecond(allowAt.Sub(now)), nil
	}
	l.tat[key] = newTAT
	return 0, nil
}

// sweep drops the keys whose bucket is full again at now; l.mu must be held.
func (l *MemoryLimiter) sweep(now time.Time) {
	for k, tat := range l.tat {
		if !tat.After(now) {
			delete(l.tat, k)
		}
	}
	l.lastSweep = now
}

func checkLimit(l portal.Limit) error {
	if l.Rate <= 0 || l.Burst <= 0 || l.Period <= 0 {
		return fmt.Errorf("session: invalid rate limit %+v", l)
	}
	return nil
}

// ceilSecond rounds d up to whole seconds, and to at least one second.
func ceilSecond(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
