package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/store/storetest"
)

// Two transactions that lock a token and its user in opposite orders (a
// link being redeemed while an admin acts on the user) deadlock on
// PostgreSQL; InTx runs the victim again, so both succeed.
func TestDeadlockedTransactionIsRetried(t *testing.T) {
	db := storetest.Postgres(t, storetest.Box(t))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	org, u := seedAnn(t, db, access.Viewer, portal.StatusInvited, now)
	hash := portal.HashToken("t")
	if err := db.CreateToken(ctx, &portal.Token{UserID: u.ID, Kind: portal.TokenInvitation, Hash: hash, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	// Each side takes its first lock, waits until the other has taken
	// its own, then asks for the other's: a deadlock, on the first try only.
	var firstLocks sync.WaitGroup
	firstLocks.Add(2)
	var onceA, onceB sync.Once
	meet := func(once *sync.Once) {
		once.Do(func() {
			firstLocks.Done()
			firstLocks.Wait()
		})
	}
	errs := make(chan error, 2)
	go func() { // redeem: token, then user
		errs <- db.InTx(ctx, func(tx portal.Store) error {
			if _, err := tx.ConsumeToken(ctx, portal.TokenInvitation, hash, now); err != nil {
				return err
			}
			meet(&onceA)
			v, err := tx.UserByID(ctx, u.ID)
			if err != nil {
				return err
			}
			return tx.Activate(ctx, v.ID)
		})
	}()
	go func() { // admin action: user, then tokens
		errs <- db.InTx(ctx, func(tx portal.Store) error {
			if _, err := tx.LockUser(ctx, org.ID, u.ID); err != nil {
				return err
			}
			meet(&onceB)
			return tx.RevokeTokens(ctx, u.ID, portal.TokenInvitation, now)
		})
	}()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil && portal.KindOf(err) != portal.KindNotFound {
			// NOT_FOUND is the redeem losing to the revocation on its retry:
			// a domain answer. Anything else (a deadlock) is the bug.
			t.Fatalf("transaction failed: %v (kind %s)", err, portal.KindOf(err))
		}
	}
}
