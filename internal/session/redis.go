package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
//	{prefix}s:{hash}    HASH of the session's fields (times in unix ms)
//	{prefix}u:{userID}  SET of the hashes of the user's sessions
//
// Every operation that touches more than one key runs as one Lua script,
// so it is atomic. Under Redis Cluster all keys of a script must live in
// one slot: give a prefix with a hash tag, e.g. "{portal}:sess:".
//
// Times are stored with millisecond precision.
type Redis struct {
	client       redis.UniversalClient
	prefix       string
	idle, maxAge time.Duration
}

// NewRedis returns a store on client. Sessions expire idle after their
// last Touch and maxAge after they were created.
func NewRedis(client redis.UniversalClient, prefix string, idle, maxAge time.Duration) *Redis {
	return &Redis{client: client, prefix: prefix, idle: idle, maxAge: maxAge}
}

func (r *Redis) sessionKey(hash string) string { return r.prefix + "s:" + hash }
func (r *Redis) userKey(userID string) string  { return r.prefix + "u:" + userID }

// The field order of the session HASH as HMGET returns it in touchScript.
var sessionFields = []string{"user", "org", "role", "stage", "fails", "created", "seen"}

// KEYS: session, user set, and for a rotation the session it replaces.
// ARGV: hash, user, org, role, stage, fails, created, seen, session TTL
// ms, user set TTL ms, user key prefix, and for a rotation the replaced
// hash. A rotation returns nil, writing nothing, unless the replaced
// session exists and belongs to the user; then both steps are one.
var createScript = redis.NewScript(`
if KEYS[3] then
  if redis.call('HGET', KEYS[3], 'user') ~= ARGV[2] then return false end
  redis.call('DEL', KEYS[3])
  redis.call('SREM', KEYS[2], ARGV[12])
end
local old = redis.call('HGET', KEYS[1], 'user')
if old then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', ARGV[11] .. old, ARGV[1])
end
redis.call('HSET', KEYS[1], 'user', ARGV[2], 'org', ARGV[3], 'role', ARGV[4],
  'stage', ARGV[5], 'fails', ARGV[6], 'created', ARGV[7], 'seen', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[10])
return 1
`)

// KEYS: session. ARGV: now ms, idle ms, maxAge ms, slack ms, user key
// prefix, hash. Returns the fields in sessionFields order, or nil when the
// session is missing or expired (then it is deleted). Never writes to a
// missing key, so it cannot bring back a deleted session.
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
  redis.call('SREM', ARGV[5] .. f[1], ARGV[6])
  return false
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

// KEYS: session. ARGV: user key prefix, hash.
var deleteScript = redis.NewScript(`
local user = redis.call('HGET', KEYS[1], 'user')
redis.call('DEL', KEYS[1])
if user then redis.call('SREM', ARGV[1] .. user, ARGV[2]) end
return 1
`)

// KEYS: user set. ARGV: session key prefix.
var deleteUserScript = redis.NewScript(`
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('DEL', ARGV[1] .. h)
end
redis.call('DEL', KEYS[1])
return 1
`)

// Create stores s and adds it to its user's index. A session with the
// same hash is replaced.
func (r *Redis) Create(ctx context.Context, s *portal.Session) error {
	err := r.create(ctx, s, "")
	if err != nil && !errors.Is(err, errInvalidSession) {
		return unavailable("create", err)
	}
	return err
}

// Rotate replaces session old by next in one script.
func (r *Redis) Rotate(ctx context.Context, old string, next *portal.Session) error {
	err := r.create(ctx, next, old)
	if errors.Is(err, redis.Nil) {
		return portal.ErrNoSession
	}
	if err != nil && !errors.Is(err, errInvalidSession) {
		return unavailable("rotate", err)
	}
	return err
}

// create runs createScript for s, replacing the session replaced unless
// that is "".
func (r *Redis) create(ctx context.Context, s *portal.Session, replaced string) error {
	if s.Hash == "" || s.UserID == "" {
		return errInvalidSession
	}
	keys := []string{r.sessionKey(s.Hash), r.userKey(s.UserID)}
	args := []any{s.Hash, s.UserID, s.OrgID, string(s.Role), string(s.Stage), s.FailedCodes,
		s.CreatedAt.UnixMilli(), s.LastSeenAt.UnixMilli(),
		(min(r.idle, r.maxAge) + ttlSlack).Milliseconds(),
		(r.maxAge + ttlSlack).Milliseconds(), r.userKey("")}
	if replaced != "" {
		keys, args = append(keys, r.sessionKey(replaced)), append(args, replaced)
	}
	return createScript.Run(ctx, r.client, keys, args...).Err()
}

// Touch returns the session with LastSeenAt moved to now (it never moves
// backwards) and extends its TTL.
func (r *Redis) Touch(ctx context.Context, hash string, now time.Time) (*portal.Session, error) {
	v, err := touchScript.Run(ctx, r.client, []string{r.sessionKey(hash)},
		now.UnixMilli(), r.idle.Milliseconds(), r.maxAge.Milliseconds(), ttlSlack.Milliseconds(),
		r.userKey(""), hash,
	).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, portal.ErrNoSession
	}
	if err != nil {
		return nil, unavailable("touch", err)
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
	err := deleteScript.Run(ctx, r.client, []string{r.sessionKey(hash)}, r.userKey(""), hash).Err()
	if err != nil {
		return unavailable("delete", err)
	}
	return nil
}

// DeleteUser ends every session of userID in one atomic step.
func (r *Redis) DeleteUser(ctx context.Context, userID string) error {
	err := deleteUserScript.Run(ctx, r.client, []string{r.userKey(userID)}, r.sessionKey("")).Err()
	if err != nil {
		return unavailable("delete user", err)
	}
	return nil
}

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
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
