package session

import (
	"testing"
	"time"
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
	sKey := func(h string) string { return prefix + "s:" + h }
	uKey := prefix + "u:u1"

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
		if in, err := client.SIsMember(ctx, uKey, h).Result(); err != nil || in {
			t.Fatalf("user index still holds the session (%v, %v)", in, err)
		}
	}

	a, b := newSession("u1", t0), newSession("u1", t0)
	mustCreate(t, st, a)
	mustCreate(t, st, b)
	wantTTL(sKey(a.Hash), idle+ttlSlack)
	wantTTL(uKey, maxAge+ttlSlack)

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
}
