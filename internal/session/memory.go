package session

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/clientportal/portal/internal/portal"
)

var _ portal.SessionStore = (*Memory)(nil)

// Memory is an in-process portal.SessionStore. Its data is lost when the
// process ends and is not shared between processes. Expired sessions are
// removed when touched; call Run (or Sweep) to remove the ones nobody
// touches again, so memory stays bounded.
type Memory struct {
	idle, maxAge time.Duration

	mu     sync.Mutex
	byHash map[string]*portal.Session
	byUser map[string]map[string]struct{}
}

// NewMemory returns an empty store. Sessions expire idle after their last
// Touch and maxAge after they were created.
func NewMemory(idle, maxAge time.Duration) *Memory {
	return &Memory{
		idle:   idle,
		maxAge: maxAge,
		byHash: make(map[string]*portal.Session),
		byUser: make(map[string]map[string]struct{}),
	}
}

var errInvalidSession = errors.New("session: Hash and UserID are required")

// Create stores a copy of s. A session with the same hash is replaced.
func (m *Memory) Create(_ context.Context, s *portal.Session) error {
	if s.Hash == "" || s.UserID == "" {
		return errInvalidSession
	}
	c := *s
	m.mu.Lock()
	defer m.mu.Unlock()
	m.link(&c)
	return nil
}

// Touch returns a copy of the session with LastSeenAt moved to now (it
// never moves backwards).
func (m *Memory) Touch(_ context.Context, hash string, now time.Time) (*portal.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byHash[hash]
	if !ok {
		return nil, portal.ErrNoSession
	}
	if m.expired(s, now) {
		m.unlink(s)
		return nil, portal.ErrNoSession
	}
	if now.After(s.LastSeenAt) {
		s.LastSeenAt = now
	}
	c := *s
	return &c, nil
}

// FailCode counts one wrong TOTP code and returns the new count.
func (m *Memory) FailCode(_ context.Context, hash string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byHash[hash]
	if !ok {
		return 0, portal.ErrNoSession
	}
	s.FailedCodes++
	return s.FailedCodes, nil
}

// Rotate replaces session old by a copy of next under one lock.
func (m *Memory) Rotate(_ context.Context, old string, next *portal.Session) error {
	if next.Hash == "" || next.UserID == "" {
		return errInvalidSession
	}
	c := *next
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byHash[old]
	if !ok || s.UserID != c.UserID {
		return portal.ErrNoSession
	}
	m.unlink(s)
	m.link(&c)
	return nil
}

// Delete ends one session; a missing session is not an error.
func (m *Memory) Delete(_ context.Context, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byHash[hash]; ok {
		m.unlink(s)
	}
	return nil
}

// DeleteUser ends every session of userID.
func (m *Memory) DeleteUser(_ context.Context, userID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h := range m.byUser[userID] {
		delete(m.byHash, h)
	}
	delete(m.byUser, userID)
	return nil
}

// Ping always succeeds.
func (m *Memory) Ping(context.Context) error { return nil }

// Sweep removes every session that has expired at now and returns how many
// it removed.
func (m *Memory) Sweep(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.byHash {
		if m.expired(s, now) {
			m.unlink(s)
			n++
		}
	}
	return n
}

// Run calls Sweep with clock's time every interval until ctx ends.
func (m *Memory) Run(ctx context.Context, clock portal.Clock, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sweep(clock.Now())
		}
	}
}

// Len returns the number of stored sessions, expired or not.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash)
}

func (m *Memory) expired(s *portal.Session, now time.Time) bool {
	return now.Sub(s.LastSeenAt) > m.idle || now.Sub(s.CreatedAt) >= m.maxAge
}

// link adds s to both maps, replacing a session with its hash; m.mu must
// be held.
func (m *Memory) link(s *portal.Session) {
	if old, ok := m.byHash[s.Hash]; ok {
		m.unlink(old)
	}
	m.byHash[s.Hash] = s
	set := m.byUser[s.UserID]
	if set == nil {
		set = make(map[string]struct{})
		m.byUser[s.UserID] = set
	}
	set[s.Hash] = struct{}{}
}

// unlink removes s from both maps; m.mu must be held.
func (m *Memory) unlink(s *portal.Session) {
	delete(m.byHash, s.Hash)
	if set := m.byUser[s.UserID]; set != nil {
		delete(set, s.Hash)
		if len(set) == 0 {
			delete(m.byUser, s.UserID)
		}
	}
}
