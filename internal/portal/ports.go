package portal

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clientportal/portal/internal/access"
)

// Clock tells the time. Tests use a fake; production uses the system clock.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock, in UTC.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// Stage is how far a session has got through login.
type Stage string

const (
	// StageTwoFactor: the password was accepted; the session may only call
	// verifyTwoFactor.
	StageTwoFactor Stage = "2fa"
	// StageFull: signed in.
	StageFull Stage = "full"
)

// Session is a login session. Its key is the SHA-256 of the bearer token
// (hex); the token itself is never stored.
type Session struct {
	Hash   string
	UserID string
	OrgID  string
	// Role is the user's role when the session was created (at login).
	Role  access.Role
	Stage Stage
	// FailedCodes counts wrong TOTP codes sent to a StageTwoFactor session.
	FailedCodes int
	CreatedAt   time.Time
	LastSeenAt  time.Time
}

// SessionStore keeps sessions. Implementations: Redis (production) and
// in-process memory (embedded default); both pass one contract test.
//
// Expiry is decided from the session's own timestamps against the time
// passed in by the caller (idle timeout since LastSeenAt, absolute lifetime
// since CreatedAt), so the rule is the same on every backend; backends may
// also let the data expire on their own as garbage collection.
//
// Every method returns ErrNoSession when the session does not exist or has
// expired, and an error wrapping ErrUnavailable when the backend cannot be
// reached (requests must fail closed).
type SessionStore interface {
	// Create stores a new session and adds it to its user's index.
	Create(ctx context.Context, s *Session) error
	// Touch returns the session and slides its idle deadline to now. An
	// expired session is deleted and reported as ErrNoSession.
	Touch(ctx context.Context, hash string, now time.Time) (*Session, error)
	// FailCode counts one wrong TOTP code and returns the new count.
	FailCode(ctx context.Context, hash string) (int, error)
	// Rotate replaces the session whose hash is old by next in one atomic
	// step: next is stored only if old still existed, and old is gone
	// afterwards, so one waiting session yields at most one successor.
	// ErrNoSession when old does not exist.
	Rotate(ctx context.Context, old string, next *Session) error
	// Delete ends one session. Deleting a missing session is not an error.
	Delete(ctx context.Context, hash string) error
	// DeleteUser ends every session of a user at once.
	DeleteUser(ctx context.Context, userID string) error
	// Ping reports whether the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
}

// ErrNoSession: no such session, or it has expired.
var ErrNoSession = &Error{Kind: KindUnauthenticated, Message: "no valid session; sign in again"}

// Limit is a rate: at most Burst events at once, refilled at Rate per Period.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// Limiter throttles attempts per key (an account or an IP address).
// Implementations: Redis (GCRA via redis_rate) and in-process memory.
type Limiter interface {
	// Allow takes one attempt for key. It returns 0 when allowed, or how
	// long to wait before the next attempt can pass.
	Allow(ctx context.Context, key string, l Limit) (retryAfter time.Duration, err error)
}

// ListQuery selects a page of users.
type ListQuery struct {
	Filter UserFilter
	Order  UserOrder
	// After is the decoded cursor of the last row of the previous page, or nil.
	After *Cursor
	// Limit is the number of rows to return (the service asks for one more
	// than the page size to learn whether there is a next page).
	Limit int
}

// Check refuses, as BAD_USER_INPUT, a query no store can answer: a bad
// filter (see UserFilter.Check), or a cursor made for another order. The
// store calls it; the format of the cursor's value is the store's own.
func (q ListQuery) Check() error {
	if err := q.Filter.Check(); err != nil {
		return err
	}
	if c := q.After; c != nil && (c.Field != q.Order.Field || c.Desc != q.Order.Desc) {
		return errForeignCursor
	}
	return nil
}

var errForeignCursor = Invalid("after", "the cursor is invalid or belongs to another order")

// UserFilter narrows a user list.
type UserFilter struct {
	Search string // case-insensitive substring of name or email
	Roles  []access.Role
	Status *Status
}

// MaxSearchLen bounds the search text, in bytes.
const MaxSearchLen = 254

// Check refuses, as BAD_USER_INPUT, a search that is too long or is not
// text (invalid UTF-8, or NUL, which PostgreSQL cannot take), and an
// unknown role.
func (f UserFilter) Check() error {
	switch {
	case len(f.Search) > MaxSearchLen:
		return Invalid("filter.search", "the search text must have at most %d characters", MaxSearchLen)
	case !utf8.ValidString(f.Search) || strings.ContainsRune(f.Search, 0):
		return Invalid("filter.search", "the search text is not valid text")
	}
	for _, r := range f.Roles {
		if err := checkRole("filter.roles", r); err != nil {
			return err
		}
	}
	return nil
}

// OrderField is a column users can be ordered by.
type OrderField string

const (
	OrderName       OrderField = "NAME"
	OrderEmail      OrderField = "EMAIL"
	OrderRole       OrderField = "ROLE"
	OrderLastActive OrderField = "LAST_ACTIVE_AT"
	OrderCreated    OrderField = "CREATED_AT"
)

// UserOrder is a sort order; the user id always breaks ties.
type UserOrder struct {
	Field OrderField
	Desc  bool
}

// Cursor is the position of a row in one ordering: the value of the order
// column (nil for NULL) and the row's id.
type Cursor struct {
	Field OrderField `json:"f"`
	Desc  bool       `json:"d,omitempty"`
	Value *string    `json:"v,omitempty"`
	ID    string     `json:"i"`
}

// AuditQuery selects a page of the audit log, newest first.
type AuditQuery struct {
	After *string // id of the last entry of the previous page
	Limit int
}

// Store is the persistence port. Lookups of one row return ErrNotFound
// (never nil, nil) when nothing matches; removed users are never found.
// Writes that break email uniqueness return a KindConflict error.
type Store interface {
	// InTx runs fn in one transaction with a Store bound to it. If fn
	// returns an error, nothing fn wrote is kept.
	InTx(ctx context.Context, fn func(tx Store) error) error
	Ping(ctx context.Context) error

	CreateOrganization(ctx context.Context, o *Organization) error
	Organization(ctx context.Context, id string) (*Organization, error)

	CreateUser(ctx context.Context, u *User) error
	// User finds a user of organisation orgID by id.
	User(ctx context.Context, orgID, id string) (*User, error)
	// LockUser is User, and inside a transaction also locks the row until
	// the transaction ends, so that concurrent changes are serialised.
	LockUser(ctx context.Context, orgID, id string) (*User, error)
	// UserByID finds a user in any organisation. Only for flows that start
	// from a token or a session, which already name the user.
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByEmail finds a user by email, case-insensitively, in any organisation.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// UsersByID returns the users of orgID among ids (any order; missing ids skipped).
	UsersByID(ctx context.Context, orgID string, ids []string) ([]*User, error)
	// The writes below change one user, who must be live (ErrNotFound
	// otherwise); each says what it changes in domain terms.

	// SetPassword stores a new password hash.
	SetPassword(ctx context.Context, userID, hash string) error
	// Activate makes an invited user ACTIVE.
	Activate(ctx context.Context, userID string) error
	// SetRole gives the user role r.
	SetRole(ctx context.Context, userID string, r access.Role) error
	// MarkInvitationSent records when the latest invitation email was queued.
	MarkInvitationSent(ctx context.Context, userID string, at time.Time) error
	// SetTOTPSecret stores a new sealed TOTP secret, not yet confirmed.
	SetTOTPSecret(ctx context.Context, userID string, sealed []byte) error
	// EnableTwoFactor confirms the user's TOTP secret (a code matched it).
	EnableTwoFactor(ctx context.Context, userID string) error
	// ClearTwoFactor removes the TOTP secret, its confirmation and the
	// wrong-code count: the next login enrols again.
	ClearTwoFactor(ctx context.Context, userID string) error
	// EndSessions makes every session of the user started before at dead,
	// whether or not the session store can be reached to delete them.
	EndSessions(ctx context.Context, userID string, at time.Time) error
	// RemoveUser marks the user removed; the email becomes free again.
	RemoveUser(ctx context.Context, orgID, id string, at time.Time) error
	// AcceptTOTPStep records step as the user's last accepted TOTP step if
	// it is later than the stored one, and clears the wrong-code count;
	// false when it is not later (a replay).
	AcceptTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// RecordWrongCode counts one wrong TOTP code for the user in the
	// current window, which starts anew at now when the last one began at
	// least window ago; it returns the count and the window's start.
	RecordWrongCode(ctx context.Context, userID string, now time.Time, window time.Duration) (int, time.Time, error)
	// TouchLastActive sets last_active_at to now unless it is already
	// later than now minus interval.
	TouchLastActive(ctx context.Context, userID string, now time.Time, interval time.Duration) error
	// ListUsers returns up to q.Limit live users of orgID that follow
	// q.After in q.Order, and the cursor of each. It refuses what q.Check
	// refuses, and a cursor whose value or id can't be a position in
	// q.Order, as BAD_USER_INPUT.
	ListUsers(ctx context.Context, orgID string, q ListQuery) ([]*User, []Cursor, error)
	// CountUsers counts the live users of orgID that match f; it refuses
	// what f.Check refuses.
	CountUsers(ctx context.Context, orgID string, f UserFilter) (int, error)

	CreateToken(ctx context.Context, t *Token) error
	// FindToken returns the unused, unexpired token of this kind and hash,
	// without using it; ErrNotFound when there is none.
	FindToken(ctx context.Context, kind TokenKind, hash []byte, now time.Time) (*Token, error)
	// ConsumeToken marks the unused, unexpired token of this kind and hash
	// used and returns it. Exactly one of many concurrent callers succeeds;
	// the others (and any later caller) get ErrNotFound.
	ConsumeToken(ctx context.Context, kind TokenKind, hash []byte, now time.Time) (*Token, error)
	// RevokeTokens marks every open token of the user used; kind "" means
	// every kind.
	RevokeTokens(ctx context.Context, userID string, kind TokenKind, now time.Time) error

	AddAudit(ctx context.Context, e *AuditEntry) error
	ListAudit(ctx context.Context, orgID string, q AuditQuery) ([]*AuditEntry, error)

	// InvitationDeliveryFailed reports, for each user id, whether the latest
	// invitation email to that user failed for good.
	InvitationDeliveryFailed(ctx context.Context, userIDs []string) (map[string]bool, error)
	// CancelEmails cancels the user's unsent emails of the given kinds
	// (every kind when none is given): their links are dead.
	CancelEmails(ctx context.Context, userID string, kinds ...EmailKind) error
	// EnqueueEmail puts e in the outbox, due at once.
	EnqueueEmail(ctx context.Context, e *Email, now time.Time) error
}
