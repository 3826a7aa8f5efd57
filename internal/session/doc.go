// Package session provides session stores and rate limiters: the Redis
// implementations used in production and in-process ones for the embedded
// default. Both kinds of store pass one contract test, as do both limiters.
package session
