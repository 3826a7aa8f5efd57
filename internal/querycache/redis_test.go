package querycache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedis(t *testing.T) {
	url := os.Getenv("PORTAL_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":apq:"
	t.Cleanup(func() { client.Del(context.Background(), prefix+"h1") })
	c := NewRedis(client, prefix, time.Minute)
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
