// Package health watches the dependencies the server cannot work without
// (the database and the session store). A Monitor probes each on an
// interval and when a request reports trouble; while one is unreachable
// it says so at once (the HTTP layer then answers 503 without waiting on a
// timeout), logs one line per failing dependency per interval with the
// cause, and logs when the dependency is back.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Probe is one dependency: Ping reports whether it answers.
type Probe struct {
	Name string
	Ping func(ctx context.Context) error
}

// Options tune a Monitor; zero values take the defaults.
type Options struct {
	// Every is the probe interval while every dependency answers (1s).
	Every time.Duration
	// EveryWhileDown is the probe interval while one does not (250ms),
	// so that recovery is noticed quickly.
	EveryWhileDown time.Duration
	// Timeout bounds one probe (1s).
	Timeout time.Duration
	// LogEvery is how often a dependency that is still down is logged
	// again (10s).
	LogEvery time.Duration
}

// Monitor tracks whether the probed dependencies answer. It is safe for
// concurrent use.
type Monitor struct {
	probes []Probe
	log    *slog.Logger
	opt    Options
	now    func() time.Time
	kick   chan struct{}
	down   atomic.Bool

	mu    sync.Mutex // serialises checks and guards state
	state []status
}

type status struct {
	down    bool
	since   time.Time // when it went down
	logged  time.Time // the last line about it
	lastErr error
}

// New returns a Monitor of probes that logs to log. Call Run to probe on
// an interval; until a probe fails, every dependency counts as up.
func New(log *slog.Logger, opt Options, probes ...Probe) *Monitor {
	if opt.Every <= 0 {
		opt.Every = time.Second
	}
	if opt.EveryWhileDown <= 0 {
		opt.EveryWhileDown = 250 * time.Millisecond
	}
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	if opt.LogEvery <= 0 {
		opt.LogEvery = 10 * time.Second
	}
	return &Monitor{probes: probes, log: log, opt: opt, now: time.Now,
		kick: make(chan struct{}, 1), state: make([]status, len(probes))}
}

// Down reports whether a dependency was unreachable at the last check.
func (m *Monitor) Down() bool { return m.down.Load() }

// Suspect asks for a check now: a request has just found a dependency
// unreachable. It never blocks.
func (m *Monitor) Suspect() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run probes until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	for {
		_ = m.Check(ctx)
		wait := m.opt.Every
		if m.Down() {
			wait = m.opt.EveryWhileDown
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// Check probes every dependency now, all at once, and returns an error
// naming each one that does not answer (nil when all do). It is what
// /readyz asks.
func (m *Monitor) Check(ctx context.Context) error {
	errs := make([]error, len(m.probes))
	var wg sync.WaitGroup
	for i, p := range m.probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, m.opt.Timeout)
			defer cancel()
			if err := p.Ping(pctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", p.Name, err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err() // the caller left: that says nothing of the dependencies
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	anyDown := false
	for i, p := range m.probes {
		s := &m.state[i]
		err := errs[i]
		switch {
		case err != nil && !s.down:
			*s = status{down: true, since: now, logged: now, lastErr: err}
			m.log.Error("dependency unavailable: requests are answered 503 until it is back", "dependency", p.Name, "err", err)
		case err != nil:
			s.lastErr = err
			if now.Sub(s.logged) >= m.opt.LogEvery {
				s.logged = now
				m.log.Error("dependency still unavailable", "dependency", p.Name,
					"for", now.Sub(s.since).Round(time.Second).String(), "err", err)
			}
		case s.down:
			m.log.Info("dependency available again", "dependency", p.Name,
				"after", now.Sub(s.since).Round(time.Millisecond).String())
			*s = status{}
		}
		anyDown = anyDown || s.down
	}
	m.down.Store(anyDown)
	return errors.Join(errs...)
}
