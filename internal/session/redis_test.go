package session

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/redistest"
)

// TestRedisKeys checks what the Redis store leaves in Redis: TTLs that
// follow the expiry rule, and no key or index entry left behind by Delete,
// DeleteUser, expiry, or a Touch or FailCode of a gone session.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := testRedis(t)
	prefix := testPrefix(t, client)
	idle, maxAge := 5*time.Minute, 6*time.Minute
	st := NewRedis(client, prefix, idle, maxAge)
	sKey := func(h string) string { return prefix + "s:{" + h + "}" }
	uKey := prefix + "u:{u1}"

	wantTTL := func(key string, want time.Duration) {
		t.Helper()
		got, err := client.PTTL(ctx, key).Result()
		if err != nil || got > want || got < want-5*time.Second {
			t.Fatalf("PTTL(%s) = %v, %v; want about %v", key, got, err, want)
		}
	}
	wantGone := func(h string) {
		t.Helper()
		if n, err := client.Exists(ctx, sKey(h)).Result(); err != nil || n != 0 {
			t.Fatalf("session key exists (%d, %v)", n, err)
		}
		if _, err := client.ZScore(ctx, uKey, h).Result(); err != redis.Nil {
			t.Fatalf("user index still holds the session (%v)", err)
		}
	}

	a, b := newSession("u1", t0), newSession("u1", t0)
	mustCreate(t, st, a)
	mustCreate(t, st, b)
	wantTTL(sKey(a.Hash), idle+ttlSlack)
	wantTTL(uKey, maxAge+ttlSlack)
	// The index scores each session with the end of its lifetime.
	if end, err := client.ZScore(ctx, uKey, a.Hash).Result(); err != nil || int64(end) != t0.Add(maxAge).UnixMilli() {
		t.Fatalf("index score = %v, %v; want %d", end, err, t0.Add(maxAge).UnixMilli())
	}

	// At +4m the absolute lifetime (2m left) is nearer than idle.
	mustTouch(t, st, a.Hash, t0.Add(4*time.Minute))
	wantTTL(sKey(a.Hash), 2*time.Minute+ttlSlack)

	// Delete, then Touch and FailCode of the deleted session.
	mustDelete(t, st, a.Hash)
	wantGone(a.Hash)
	wantNoSession(t, st, a.Hash, t0.Add(4*time.Minute))
	st.FailCode(ctx, a.Hash)
	wantGone(a.Hash)

	// Expiry found by Touch.
	wantNoSession(t, st, b.Hash, t0.Add(idle+time.Second))
	wantGone(b.Hash)

	// DeleteUser removes the index too.
	c := newSession("u1", t0)
	mustCreate(t, st, c)
	if err := st.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	wantGone(c.Hash)
	if n, err := client.Exists(ctx, uKey).Result(); err != nil || n != 0 {
		t.Fatalf("user index exists after DeleteUser (%d, %v)", n, err)
	}
	if keys, err := client.Keys(ctx, prefix+"*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("keys left: %v, %v", keys, err)
	}

	// A new session drops the index entries of sessions whose absolute
	// lifetime is over, so the index of a user who signs in often (and
	// never signs out) stays bounded.
	old := newSession("u1", t0)
	mustCreate(t, st, old)
	fresh := newSession("u1", t0.Add(maxAge+time.Second))
	mustCreate(t, st, fresh)
	if n, err := client.ZCard(ctx, uKey).Result(); err != nil || n != 1 {
		t.Fatalf("index holds %d entries (%v), want 1", n, err)
	}
}

// TestRedisKeysSpreadOverSlots checks that no key of the store carries a
// shared hash tag: each session and each user index hashes to a slot of
// its own, so a Cluster spreads them over its masters.
func TestRedisKeysSpreadOverSlots(t *testing.T) {
	st := NewRedis(nil, "portal:sess:", time.Minute, time.Hour)
	slots := map[int]bool{}
	for range 1000 {
		slots[redistest.Slot(st.sessionKey(hexBytes(32)))] = true
	}
	if len(slots) < 900 { // 1000 draws from 16384 slots collide ~30 times
		t.Fatalf("1000 sessions hash to %d slots", len(slots))
	}
	if redistest.Slot(st.sessionKey("abc")) != redistest.Slot("abc") || redistest.Slot(st.userKey("u1")) != redistest.Slot("u1") {
		t.Fatal("a key's slot is not its own tag's")
	}
	for _, bad := range []string{"{portal}:", "x{y}"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRedis accepted prefix %q", bad)
				}
			}()
			NewRedis(nil, bad, time.Minute, time.Hour)
		}()
	}
}
