package session

import (
	"context"
	"testing"
	"time"
)

func TestRedisCache(t *testing.T) {
	client := testRedis(t)
	prefix := testPrefix(t, client)
	c := NewRedisCache(client, prefix, time.Minute)
	ctx := context.Background()
	if _, ok := c.Get(ctx, "h1"); ok {
		t.Fatal("empty cache hit")
	}
	c.Add(ctx, "h1", "{ me { id } }")
	if v, ok := c.Get(ctx, "h1"); !ok || v != "{ me { id } }" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	if ttl := client.TTL(ctx, prefix+"h1").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL = %v", ttl)
	}
}
