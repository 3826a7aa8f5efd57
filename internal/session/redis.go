package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

var _ portal.SessionStore = (*Redis)(nil)

// ttlSlack is added to the TTL Redis keeps sessions for, so that Redis
// never drops a session before Touch would have judged it expired: the
// expiry rule is applied by Touch, the TTL only collects garbage.
const ttlSlack = time.Minute

// Redis is a portal.SessionStore in Redis. Keys, under prefix:
//
//	<prefix>s:{<hash>}    HASH of the session's fields (times in unix ms)
//	<prefix>u:{<userID>}  ZSET of the hashes of the user's sessions, each
//	                      scored with the end of its absolute lifetime
//
// Each key carries its own hash tag, so under Redis Cluster the sessions
// spread over all slots (and masters) instead of crowding one, and every
// script touches exactly one key, which it declares in KEYS. The steps that
// touch a session and its user's index are therefore two calls, ordered so
// that a failure between them leaves at worst a stale index entry (removed
// later, or at the end of the absolute lifetime), never a session the
// index does not list:
//
//   - Create adds the index entry first, then writes the session.
//   - Rotate consumes the old session first (one script on its key, so
//     one session has at most one successor), then creates the new one.
//   - DeleteUser deletes every listed session that still belongs to the
//     user, then removes exactly the entries it read. A session created
//     while DeleteUser runs may survive it; the database's
//     sessions-not-before time, which Authenticate checks on every
//     request, is what makes revocation exact (portal.endSessions).
//
// Times are stored with millisecond precision.
type Redis struct {
	client       redis.UniversalClient
	prefix       string
	idle, maxAge time.Duration
}

// NewRedis returns a store on client. Sessions expire idle after their
// last Touch and maxAge after they were created. The prefix must not
// contain a hash tag ("{...}"): it would pin every key to one Cluster
// slot; NewRedis panics if it does.
func NewRedis(client redis.UniversalClient, prefix string, idle, maxAge time.Duration) *Redis {
	if strings.ContainsAny(prefix, "{}") {
		panic("session: Redis key prefix " + strconv.Quote(prefix) + " has a hash tag; sessions would share one Cluster slot")
	}
	return &Redis{client: client, prefix: prefix, idle: idle, maxAge: maxAge}
}

func (r *Redis) sessionKey(hash string) string { return r.prefix + "s:{" + hash + "}" }
func (r *Redis) userKey(userID string) string  { return r.prefix + "u:{" + userID + "}" }

// The field order of the session HASH as HMGET returns it in touchScript.
var sessionFields = []string{"user", "org", "role", "stage", "fails", "created", "seen"}

// KEYS: user index. ARGV: hash, end of its lifetime ms, created ms, index
// TTL ms, and optionally the hash of a session it replaces. Adds the
// session, removes the replaced one, and drops the entries of sessions
// whose absolute lifetime is over, so the index stays bounded.
var indexScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[5] then redis.call('ZREM', KEYS[1], ARGV[5]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// KEYS: session. ARGV: user, org, role, stage, fails, created, seen,
// session TTL ms. Returns the user of the session it replaced, or false.
var createScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'user')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'org', ARGV[2], 'role', ARGV[3],
  'stage', ARGV[4], 'fails', ARGV[5], 'created', ARGV[6], 'seen', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return old
`)

// KEYS: session. ARGV: now ms, idle ms, maxAge ms, slack ms. Returns the
// fields in sessionFields order; {user} when the session had expired (it
// is deleted, and the caller drops it from that user's index); or false
// when it is missing. Never writes to a missing key, so it cannot bring
// back a deleted session.
var touchScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'user', 'org', 'role', 'stage', 'fails', 'created', 'seen')
if not f[1] or not f[6] or not f[7] then return false end
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local maxAge = tonumber(ARGV[3])
local created = tonumber(f[6])
local seen = tonumber(f[7])
if now - seen > idle or now - created >= maxAge then
  redis.call('DEL', KEYS[1])
  return {f[1]}
end
if now > seen then
  seen = now
  f[7] = ARGV[1]
  redis.call('HSET', KEYS[1], 'seen', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], math.min(idle, created + maxAge - seen) + tonumber(ARGV[4]))
return f
`)

// KEYS: session. Returns the new count, or nil when the session is missing.
var failCodeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], 'fails', 1)
`)

// KEYS: session. ARGV: user, or "" for any. Deletes the session if it
// belongs to that user; returns its user, or false.
var deleteScript = redis.NewScript(`
local user = redis.call('HGET', KEYS[1], 'user')
if not user or (ARGV[1] ~= '' and user ~= ARGV[1]) then return false end
redis.call('DEL', KEYS[1])
return user
`)

// Create stores s and adds it to its user's index. A session with the
// same hash is replaced (and leaves its former user's index).
func (r *Redis) Create(ctx context.Context, s *portal.Session) error {
	if s.Hash == "" || s.UserID == "" {
		return errInvalidSession
	}
	return r.create(ctx, s, "create")
}

// Rotate replaces the session old by next. Old is consumed first, by one
// script on its own key that deletes it only if it exists and belongs to
// next's user: of many concurrent rotations of one session exactly one
// gets past that step, so one session yields at most one successor. Next
// is then stored as by Create. ErrNoSession when old does not exist (or
// belongs to someone else).
func (r *Redis) Rotate(ctx context.Context, old string, next *portal.Session) error {
	if next.Hash == "" || next.UserID == "" {
		return errInvalidSession
	}
	err := deleteScript.Run(ctx, r.client, []string{r.sessionKey(old)}, next.UserID).Err()
	if errors.Is(err, redis.Nil) {
		return portal.ErrNoSession
	}
	if err != nil {
		return unavailable("rotate", err)
	}
	return r.create(ctx, next, "rotate", old)
}

// create writes s: its index entry first (removing the replaced session's,
// if any), then the session itself.
func (r *Redis) create(ctx context.Context, s *portal.Session, op string, replaced ...string) error {
	end := s.CreatedAt.Add(r.maxAge).UnixMilli()
	args := []any{s.Hash, end, s.CreatedAt.UnixMilli(), (r.maxAge + ttlSlack).Milliseconds()}
	for _, h := range replaced {
		args = append(args, h)
	}
	err := indexScript.Run(ctx, r.client, []string{r.userKey(s.UserID)}, args...).Err()
	if err != nil {
		return unavailable(op, err)
	}
	old, err := createScript.Run(ctx, r.client, []string{r.sessionKey(s.Hash)},
		s.UserID, s.OrgID, string(s.Role), string(s.Stage), s.FailedCodes,
		s.CreatedAt.UnixMilli(), s.LastSeenAt.UnixMilli(),
		(min(r.idle, r.maxAge) + ttlSlack).Milliseconds(),
	).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return unavailable(op, err)
	}
	if old != "" && old != s.UserID {
		if err := r.client.ZRem(ctx, r.userKey(old), s.Hash).Err(); err != nil {
			return unavailable(op, err)
		}
	}
	return nil
}

// Touch returns the session with LastSeenAt moved to now (it never moves
// backwards) and extends its TTL.
func (r *Redis) Touch(ctx context.Context, hash string, now time.Time) (*portal.Session, error) {
	v, err := touchScript.Run(ctx, r.client, []string{r.sessionKey(hash)},
		now.UnixMilli(), r.idle.Milliseconds(), r.maxAge.Milliseconds(), ttlSlack.Milliseconds(),
	).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, portal.ErrNoSession
	}
	if err != nil {
		return nil, unavailable("touch", err)
	}
	if len(v) == 1 { // expired and deleted: drop it from its user's index
		if user, _ := v[0].(string); user != "" {
			if err := r.client.ZRem(ctx, r.userKey(user), hash).Err(); err != nil {
				return nil, unavailable("touch", err)
			}
		}
		return nil, portal.ErrNoSession
	}
	s, err := parseSession(hash, v)
	if err != nil {
		return nil, fmt.Errorf("session: redis touch: %w", err)
	}
	return s, nil
}

// FailCode counts one wrong TOTP code and returns the new count.
func (r *Redis) FailCode(ctx context.Context, hash string) (int, error) {
	n, err := failCodeScript.Run(ctx, r.client, []string{r.sessionKey(hash)}).Int()
	if errors.Is(err, redis.Nil) {
		return 0, portal.ErrNoSession
	}
	if err != nil {
		return 0, unavailable("fail code", err)
	}
	return n, nil
}

// Delete ends one session; a missing session is not an error.
func (r *Redis) Delete(ctx context.Context, hash string) error {
	user, err := deleteScript.Run(ctx, r.client, []string{r.sessionKey(hash)}, "").Text()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err == nil {
		err = r.client.ZRem(ctx, r.userKey(user), hash).Err()
	}
	if err != nil {
		return unavailable("delete", err)
	}
	return nil
}

// DeleteUser ends every session of userID: each session its index lists
// (and that still belongs to the user) is deleted before it returns.
func (r *Redis) DeleteUser(ctx context.Context, userID string) error {
	key := r.userKey(userID)
	hashes, err := r.client.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return unavailable("delete user", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	// The sessions live in many slots: one pipeline, which the Cluster
	// client splits per master. The script body is sent each time (no
	// EVALSHA) so a freshly promoted master needs no script cache.
	cmds, _ := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range hashes {
			deleteScript.Eval(ctx, p, []string{r.sessionKey(h)}, userID)
		}
		return nil
	})
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return unavailable("delete user", err)
		}
	}
	members := make([]any, len(hashes))
	for i, h := range hashes {
		members[i] = h
	}
	if err := r.client.ZRem(ctx, key, members...).Err(); err != nil {
		return unavailable("delete user", err)
	}
	return nil
}

// Ping reports whether Redis can serve every session: a single server or
// the Sentinel-elected master answers; on a Cluster, every one of the
// 16384 slots has a master and every master answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := ping(ctx, r.client); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

func parseSession(hash string, v []any) (*portal.Session, error) {
	if len(v) != len(sessionFields) {
		return nil, fmt.Errorf("want %d fields, got %d", len(sessionFields), len(v))
	}
	f := make([]string, len(v))
	for i, x := range v {
		f[i], _ = x.(string) // a missing field reads as ""
	}
	fails, err1 := strconv.Atoi(f[4])
	created, err2 := strconv.ParseInt(f[5], 10, 64)
	seen, err3 := strconv.ParseInt(f[6], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("corrupt session: %w", err)
	}
	return &portal.Session{
		Hash:        hash,
		UserID:      f[0],
		OrgID:       f[1],
		Role:        access.Role(f[2]),
		Stage:       portal.Stage(f[3]),
		FailedCodes: fails,
		CreatedAt:   time.UnixMilli(created).UTC(),
		LastSeenAt:  time.UnixMilli(seen).UTC(),
	}, nil
}

// unavailable wraps a Redis error so that errors.Is(err,
// portal.ErrUnavailable) holds (and portal.KindOf reports KindUnavailable)
// while the cause stays reachable with errors.Is/As. Every error from
// Redis other than redis.Nil is treated so: requests fail closed.
func unavailable(op string, err error) error {
	return fmt.Errorf("session: redis %s: %w: %w", op, portal.ErrUnavailable, err)
}
