// Package querycache keeps the GraphQL layer's automatic persisted
// queries in Redis, shared by every server instance (package graph keeps
// them in memory when there is no Redis).
package querycache

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a string cache in Redis, shared by every server instance. Its
// method set is gqlgen's graphql.Cache[string]. A Redis failure is a cache
// miss: the client then simply sends the full query again.
type Redis struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedis keeps entries under prefix for ttl after their last write.
func NewRedis(client redis.UniversalClient, prefix string, ttl time.Duration) *Redis {
	return &Redis{client: client, prefix: prefix, ttl: ttl}
}

// Get returns the value of key, if present.
func (c *Redis) Get(ctx context.Context, key string) (string, bool) {
	v, err := c.client.Get(ctx, c.prefix+key).Result()
	return v, err == nil
}

// Add stores value under key.
func (c *Redis) Add(ctx context.Context, key, value string) {
	c.client.Set(ctx, c.prefix+key, value, c.ttl)
}
