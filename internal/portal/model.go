package portal

import (
	"time"

	"github.com/clientportal/portal/internal/access"
)

// Status is a user's lifecycle state.
type Status string

const (
	StatusInvited Status = "INVITED"
	StatusActive  Status = "ACTIVE"
)

// Organization is a client company; every user belongs to exactly one.
type Organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// User is a member of an organisation. Removed users are never returned by
// the store's lookups.
type User struct {
	ID           string
	OrgID        string
	Email        string
	Name         string
	Role         access.Role
	Status       Status
	PasswordHash string
	// TOTPSecret is the encrypted TOTP secret; empty when 2FA is not set up.
	TOTPSecret []byte
	// TwoFactorEnabled is true once an enrolment code has been verified.
	TwoFactorEnabled bool
	// TOTPLastStep is the last accepted TOTP time step; only later steps pass.
	TOTPLastStep int64
	// TOTPFailures counts wrong codes since TOTPFailuresSince (a window of
	// a day); a code accepted or a 2FA reset clears it.
	TOTPFailures      int
	TOTPFailuresSince *time.Time
	InvitedByID       *string
	CreatedAt         time.Time
	LastActiveAt      *time.Time
	// InvitationSentAt is when the latest invitation email was queued.
	InvitationSentAt *time.Time
	// SessionsNotBefore: sessions created before this time are dead (set
	// when an admin resets 2FA or removes the user, or the password is
	// reset), even if the session store could not be reached to delete them.
	SessionsNotBefore *time.Time
}

// Subject is the user as the role policy sees them.
func (u *User) Subject() access.Subject { return access.Subject{ID: u.ID, Role: u.Role} }

// TokenKind says what a single-use token is for.
type TokenKind string

const (
	TokenInvitation    TokenKind = "invitation"
	TokenPasswordReset TokenKind = "password_reset"
)

// Token is a single-use token. Only the SHA-256 of its secret is stored.
type Token struct {
	ID        string
	UserID    string
	Kind      TokenKind
	Hash      []byte
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// AuditEntry records one state change: who did what to whom, and when.
type AuditEntry struct {
	ID         string
	OrgID      string
	ActorID    *string // nil for the operator (CLI)
	Action     AuditAction
	TargetID   *string
	BeforeRole *access.Role
	AfterRole  *access.Role
	CreatedAt  time.Time
}

// AuditAction names what an audit entry records: the events of the
// service, where access.Action names what one user may do to another.
type AuditAction string

// Audit actions.
const (
	AuditOrganizationCreated AuditAction = "ORGANIZATION_CREATED"
	AuditUserCreated         AuditAction = "USER_CREATED"
	AuditInvitationAccepted  AuditAction = "INVITATION_ACCEPTED"
	AuditRoleChanged         AuditAction = "ROLE_CHANGED"
	AuditInvitationResent    AuditAction = "INVITATION_RESENT"
	AuditPasswordResetSent   AuditAction = "PASSWORD_RESET_SENT"
	AuditPasswordResetAsked  AuditAction = "PASSWORD_RESET_REQUESTED"
	AuditPasswordReset       AuditAction = "PASSWORD_RESET"
	AuditTwoFactorEnrolled   AuditAction = "TWO_FACTOR_ENROLLED"
	AuditTwoFactorReset      AuditAction = "TWO_FACTOR_RESET"
	AuditTwoFactorLocked     AuditAction = "TWO_FACTOR_LOCKED" // too many wrong codes in a day
	AuditUserRemoved         AuditAction = "USER_REMOVED"
)

// EmailKind says which template an outgoing email uses.
type EmailKind string

const (
	EmailInvitation       EmailKind = "invitation"
	EmailAdminReset       EmailKind = "admin_password_reset"
	EmailSelfServiceReset EmailKind = "self_service_password_reset"
)

// Email is an outgoing message waiting in the outbox. It is written in the
// same transaction as the change that needs it and sent later by a worker.
type Email struct {
	Kind      EmailKind
	UserID    string
	To        string
	ToName    string
	OrgName   string
	Inviter   string // name of the admin who acted; empty for the operator or the user themself
	Link      string
	ExpiresAt time.Time
}
