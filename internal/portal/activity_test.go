package portal_test

import (
	"context"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/session"
	"github.com/clientportal/portal/internal/store/storetest"
)

// slowActivity is the real store whose last-active writes wait for release.
type slowActivity struct {
	portal.Store
	release chan struct{}
}

func (s *slowActivity) TouchLastActive(ctx context.Context, userID string, now time.Time, interval time.Duration) error {
	<-s.release
	return s.Store.TouchLastActive(ctx, userID, now, interval)
}

// TestLastActiveOffTheRequestPath: a request that records activity does
// not wait for the write (it answers with the new time at once); the
// write lands in the store afterwards, and WaitActivity waits for it.
func TestLastActiveOffTheRequestPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin, ann := e.org("Acme", "ann@example.com")
	e.svc.WaitActivity()
	e.clock.Advance(2 * time.Minute)
	now := e.clock.Now()
	slow := &slowActivity{Store: e.db, release: make(chan struct{})}
	svc := portal.New(e.cfg, slow, e.sessions, session.NewMemoryLimiter(e.clock), e.clock, portal.NewHasher(1), storetest.Box(t), nil)
	done := make(chan *portal.Viewer, 1)
	go func() { v, _ := svc.Authenticate(bg(), admin); done <- v }()
	select {
	case v := <-done:
		if v == nil || v.User.LastActiveAt == nil || !v.User.LastActiveAt.Equal(now) {
			t.Fatalf("Authenticate = %+v", v)
		}
	case <-time.After(10 * time.Second):
		close(slow.release)
		t.Fatal("Authenticate waited for the last-active write")
	}
	if got := e.user(ann.ID).LastActiveAt; got != nil && got.Equal(now) {
		t.Fatal("written before the store let it")
	}
	close(slow.release)
	svc.WaitActivity()
	if got := e.user(ann.ID).LastActiveAt; got == nil || !got.Equal(now) {
		t.Fatalf("last_active_at = %v, want %v", got, now)
	}
}
