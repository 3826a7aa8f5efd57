package session

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCache is a string cache in Redis, shared by every server instance.
// The GraphQL layer keeps automatic persisted queries in it. Its method
// set is gqlgen's graphql.Cache[string]. A Redis failure is a cache miss:
// the client then simply sends the full query again.
type RedisCache struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedisCache keeps entries under prefix for ttl after their last write.
func NewRedisCache(client redis.UniversalClient, prefix string, ttl time.Duration) *RedisCache {
	return &RedisCache{client: client, prefix: prefix, ttl: ttl}
}

// Get returns the value of key, if present.
func (c *RedisCache) Get(ctx context.Context, key string) (string, bool) {
	v, err := c.client.Get(ctx, c.prefix+key).Result()
	return v, err == nil
}

// Add stores value under key.
func (c *RedisCache) Add(ctx context.Context, key, value string) {
	c.client.Set(ctx, c.prefix+key, value, c.ttl)
}
