package portal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/clientportal/portal/internal/access"
)

// sees reports whether u is a user of v's organisation: another
// organisation's users are invisible (not found, never forbidden).
func (v *Viewer) sees(u *User) bool { return v != nil && u != nil && u.OrgID == v.User.OrgID }

// Actions says what the viewer may do to a user right now.
type Actions struct {
	ChangeRole, ResendInvitation, SendPasswordReset, ResetTwoFactor, Remove bool
}

// Can is what viewer v may do to u: the role policy, narrowed by u's state
// (only INVITED users get invitations, only ACTIVE users password resets,
// only users with 2FA a 2FA reset).
func Can(v *Viewer, u *User) Actions {
	if !v.sees(u) {
		return Actions{}
	}
	me, them := v.Subject(), u.Subject()
	return Actions{
		ChangeRole:        len(access.AssignableTo(me, them)) > 0,
		ResendInvitation:  access.CanAct(me, them, access.ActResendInvitation) && u.Status == StatusInvited,
		SendPasswordReset: access.CanAct(me, them, access.ActSendPasswordReset) && u.Status == StatusActive,
		ResetTwoFactor:    access.CanAct(me, them, access.ActResetTwoFactor) && u.TOTPSecret != nil,
		Remove:            access.CanAct(me, them, access.ActRemove),
	}
}

// AssignableRoles are the roles the viewer may change u to right now.
func AssignableRoles(v *Viewer, u *User) []access.Role {
	if !v.sees(u) {
		return []access.Role{}
	}
	return access.AssignableTo(v.Subject(), u.Subject())
}

// Roles lists the role definitions; every signed-in role may read them.
func (s *Service) Roles(ctx context.Context) ([]*access.Definition, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Role.Has(access.ViewRoles) {
		return nil, ErrForbidden
	}
	out := make([]*access.Definition, len(access.Definitions))
	for i := range access.Definitions {
		out[i] = &access.Definitions[i]
	}
	return out, nil
}

// User finds a user of the viewer's organisation; other organisations'
// users are ErrNotFound.
func (s *Service) User(ctx context.Context, id string) (*User, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Role.Has(access.ViewUsers) {
		return nil, ErrForbidden
	}
	return s.store.User(ctx, v.User.OrgID, id)
}

// RelatedUsers loads the users of organisation orgID that objects the
// caller already holds refer to: a user's inviter, an audit entry's actor
// or target. The caller passes the organisation of the referring object,
// so no reference leads into another organisation; it needs no session of
// its own because the referring object was already authorised (the user
// that acceptInvitation or verifyTwoFactor returns has an inviter too).
// Result i is nil when ids[i] is not a live user of orgID.
func (s *Service) RelatedUsers(ctx context.Context, orgID string, ids []string) ([]*User, error) {
	found, err := s.store.UsersByID(ctx, orgID, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*User, len(found))
	for _, u := range found {
		byID[u.ID] = u
	}
	out := make([]*User, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// InvitationDeliveryFailed reports for each user (of the viewer's
// organisation) whether their latest invitation email failed for good.
func (s *Service) InvitationDeliveryFailed(ctx context.Context, users []*User) ([]bool, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(users))
	for _, u := range users {
		if v.sees(u) {
			ids = append(ids, u.ID)
		}
	}
	failed, err := s.store.InvitationDeliveryFailed(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(users))
	for i, u := range users {
		out[i] = failed[u.ID] && v.sees(u)
	}
	return out, nil
}

// Page sizes of users.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// UserPage is one page of a user list.
type UserPage struct {
	Users       []*User
	Cursors     []string
	HasNext     bool
	HasPrevious bool
	filter      UserFilter
	orgID       string
}

// Users lists the viewer's organisation, keyset-paginated.
func (s *Service) Users(ctx context.Context, first *int, after *string, f UserFilter, o UserOrder) (*UserPage, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Role.Has(access.ViewUsers) {
		return nil, ErrForbidden
	}
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	if o.Field == "" {
		o.Field = OrderName
	}
	q := ListQuery{Filter: f, Order: o, Limit: n + 1}
	if after != nil {
		if q.After, err = DecodeCursor(*after); err != nil {
			return nil, errForeignCursor
		}
	}
	users, cursors, err := s.store.ListUsers(ctx, v.User.OrgID, q)
	if err != nil {
		return nil, err
	}
	p := &UserPage{HasPrevious: after != nil, filter: f, orgID: v.User.OrgID}
	if len(users) > n {
		users, cursors, p.HasNext = users[:n], cursors[:n], true
	}
	p.Users = users
	p.Cursors = make([]string, len(users))
	for i := range users {
		p.Cursors[i] = EncodeCursor(cursors[i])
	}
	return p, nil
}

// pageSize checks a connection's first argument: 1..MaxPageSize, default
// DefaultPageSize.
func pageSize(first *int) (int, error) {
	if first == nil {
		return DefaultPageSize, nil
	}
	if *first < 1 || *first > MaxPageSize {
		return 0, Invalid("first", "first must be between 1 and %d", MaxPageSize)
	}
	return *first, nil
}

// TotalCount counts every user matching the page's filter. It is separate
// so that it runs only when a client asks for it.
func (s *Service) TotalCount(ctx context.Context, p *UserPage) (int, error) {
	return s.store.CountUsers(ctx, p.orgID, p.filter)
}

// EncodeCursor makes an opaque cursor.
func EncodeCursor(c Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(s string) (*Cursor, error) {
	if len(s) > 1024 {
		return nil, Invalid("after", "invalid cursor")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, Invalid("after", "invalid cursor")
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return nil, Invalid("after", "invalid cursor")
	}
	return &c, nil
}

// CreateUser invites a new user with a role below the viewer's.
func (s *Service) CreateUser(ctx context.Context, email, name string, role access.Role) (*User, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Role.Has(access.CreateUsers) {
		return nil, ErrForbidden
	}
	if email, err = normalizeEmail("email", email); err != nil {
		return nil, err
	}
	if name, err = normalizeName(name); err != nil {
		return nil, err
	}
	if err := checkRole("role", role); err != nil {
		return nil, err
	}
	if !access.CanCreate(v.Role, role) {
		return nil, errRoleTooHigh
	}
	now := s.now()
	u := &User{OrgID: v.User.OrgID, Email: email, Name: name, Role: role, Status: StatusInvited,
		InvitedByID: &v.User.ID, CreatedAt: now}
	err = s.store.InTx(ctx, func(tx Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if _, err := s.issueLink(ctx, tx, u, v.User, TokenInvitation, EmailInvitation, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, auditEvent{Action: AuditUserCreated, Actor: v.User, Target: u, After: &role})
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return u, nil
}

// errRoleTooHigh: the viewer may not give that role (create or change).
var errRoleTooHigh = &Error{Kind: KindForbidden, Message: "you may only give roles ranked below your own"}

// checkRole refuses a role that is not one of the five as BAD_USER_INPUT
// on field.
func checkRole(field string, r access.Role) error {
	if !r.Valid() {
		return Invalid(field, "unknown role %q", r)
	}
	return nil
}

// act runs an admin action on a user of the viewer's organisation: it
// locks the target, checks the policy, and runs do in the same
// transaction. Another organisation's user is ErrNotFound; a target the
// viewer may not act on is ErrForbidden; nothing is written on either.
func (s *Service) act(ctx context.Context, userID string, a access.Action, do func(tx Store, v *Viewer, u *User, now time.Time) error) (*User, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var target *User
	err = s.store.InTx(ctx, func(tx Store) error {
		u, err := tx.LockUser(ctx, v.User.OrgID, userID)
		if err != nil {
			return err
		}
		if !access.CanAct(v.Subject(), u.Subject(), a) {
			return ErrForbidden
		}
		target = u
		return do(tx, v, u, s.now())
	})
	if err != nil {
		return nil, err
	}
	return target, nil
}

// ChangeRole gives a lower-ranked user another role below the viewer's.
func (s *Service) ChangeRole(ctx context.Context, userID string, role access.Role) (*User, error) {
	if err := checkRole("role", role); err != nil {
		if _, serr := signedIn(ctx); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	// act has checked the target (access.CanAct); what is left of
	// access.CanChangeRole is whether the viewer may give role.
	return s.act(ctx, userID, access.ActChangeRole, func(tx Store, v *Viewer, u *User, now time.Time) error {
		if u.Role == role {
			return Invalid("role", "the user already has this role")
		}
		if !access.CanAssign(v.Role, role) {
			return errRoleTooHigh
		}
		if err := tx.SetRole(ctx, u.ID, role); err != nil {
			return err
		}
		before := u.Role
		u.Role = role
		return audit(ctx, tx, now, auditEvent{Action: AuditRoleChanged, Actor: v.User, Target: u, Before: &before, After: &role})
	})
}

// ResendInvitation emails a new invitation link to an INVITED user; the
// earlier links stop working.
func (s *Service) ResendInvitation(ctx context.Context, userID string) (*User, error) {
	return s.mailLink(ctx, userID, access.ActResendInvitation, StatusInvited,
		"the user has already accepted their invitation",
		TokenInvitation, EmailInvitation, AuditInvitationResent)
}

// SendPasswordReset emails a reset link to an ACTIVE user. Their current
// password keeps working until the link is used.
func (s *Service) SendPasswordReset(ctx context.Context, userID string) (*User, error) {
	return s.mailLink(ctx, userID, access.ActSendPasswordReset, StatusActive,
		"the user has not accepted their invitation yet; resend the invitation instead",
		TokenPasswordReset, EmailAdminReset, AuditPasswordResetSent)
}

// mailLink is an admin action that emails a user a fresh single-use link:
// the user must have status want (else BAD_USER_INPUT with wrongStatus);
// the link, its queued email and the audit record are written together.
func (s *Service) mailLink(ctx context.Context, userID string, a access.Action, want Status, wrongStatus string,
	kind TokenKind, email EmailKind, auditAction AuditAction) (*User, error) {
	u, err := s.act(ctx, userID, a, func(tx Store, v *Viewer, u *User, now time.Time) error {
		if u.Status != want {
			return Invalid("userId", "%s", wrongStatus)
		}
		if _, err := s.issueLink(ctx, tx, u, v.User, kind, email, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, auditEvent{Action: auditAction, Actor: v.User, Target: u})
	})
	if err == nil {
		s.notify()
	}
	return u, err
}

// ResetTwoFactor clears the user's 2FA and ends their sessions; their next
// login enrols again.
func (s *Service) ResetTwoFactor(ctx context.Context, userID string) (*User, error) {
	u, err := s.act(ctx, userID, access.ActResetTwoFactor, func(tx Store, v *Viewer, u *User, now time.Time) error {
		if u.TOTPSecret == nil {
			return Invalid("userId", "the user has not set up two-factor authentication")
		}
		if err := tx.ClearTwoFactor(ctx, u.ID); err != nil {
			return err
		}
		u.TOTPSecret, u.TwoFactorEnabled = nil, false
		u.TOTPFailures, u.TOTPFailuresSince = 0, nil
		if err := revokeSessions(ctx, tx, u, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, auditEvent{Action: AuditTwoFactorReset, Actor: v.User, Target: u})
	})
	if err == nil {
		s.deleteSessions(ctx, u.ID)
	}
	return u, err
}

// RemoveUser removes a user from the organisation: their sessions and open
// links die at once, the email is free again, the audit log keeps the record.
func (s *Service) RemoveUser(ctx context.Context, userID string) (string, error) {
	u, err := s.act(ctx, userID, access.ActRemove, func(tx Store, v *Viewer, u *User, now time.Time) error {
		if err := tx.RevokeTokens(ctx, u.ID, "", now); err != nil {
			return err
		}
		if err := tx.CancelEmails(ctx, u.ID); err != nil {
			return err
		}
		if err := revokeSessions(ctx, tx, u, now); err != nil {
			return err
		}
		if err := tx.RemoveUser(ctx, u.OrgID, u.ID, now); err != nil {
			return err
		}
		before := u.Role
		return audit(ctx, tx, now, auditEvent{Action: AuditUserRemoved, Actor: v.User, Target: u, Before: &before})
	})
	if err != nil {
		return "", err
	}
	s.deleteSessions(ctx, u.ID)
	return u.ID, nil
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Entries     []*AuditEntry
	HasNext     bool
	HasPrevious bool
}

// AuditLog lists the organisation's audit log; Super Admins and Admins only.
func (s *Service) AuditLog(ctx context.Context, first *int, after *string) (*AuditPage, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !access.CanReadAudit(v.Role) {
		return nil, ErrForbidden
	}
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	q := AuditQuery{Limit: n + 1}
	if after != nil {
		b, err := base64.RawURLEncoding.DecodeString(*after)
		if err != nil || len(b) != 36 {
			return nil, Invalid("after", "invalid cursor")
		}
		id := string(b)
		q.After = &id
	}
	entries, err := s.store.ListAudit(ctx, v.User.OrgID, q)
	if err != nil {
		return nil, err
	}
	p := &AuditPage{HasPrevious: after != nil}
	if len(entries) > n {
		entries, p.HasNext = entries[:n], true
	}
	p.Entries = entries
	return p, nil
}

// AuditCursor is the opaque cursor of an audit entry.
func AuditCursor(e *AuditEntry) string { return base64.RawURLEncoding.EncodeToString([]byte(e.ID)) }

// CreateOrganization is the operator's command: a new organisation and its
// first Super Admin, INVITED. It returns the invitation link (also queued
// as an email). This is the only way a Super Admin comes to exist.
func (s *Service) CreateOrganization(ctx context.Context, name, adminEmail, adminName string) (*Organization, *User, string, error) {
	orgName, err := normalizeName(name)
	if err != nil {
		return nil, nil, "", Invalid("name", "the organisation name is required and must have at most %d characters", MaxNameLen)
	}
	email, err := normalizeEmail("admin-email", adminEmail)
	if err != nil {
		return nil, nil, "", err
	}
	uname, err := normalizeName(adminName)
	if err != nil {
		return nil, nil, "", Invalid("admin-name", "%s", err.(*Error).Message)
	}
	now := s.now()
	org := &Organization{Name: orgName, CreatedAt: now}
	u := &User{Email: email, Name: uname, Role: access.SuperAdmin, Status: StatusInvited, CreatedAt: now}
	var link string
	err = s.store.InTx(ctx, func(tx Store) error {
		if err := tx.CreateOrganization(ctx, org); err != nil {
			return err
		}
		u.OrgID = org.ID
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if link, err = s.issueLink(ctx, tx, u, nil, TokenInvitation, EmailInvitation, now); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, auditEvent{Action: AuditOrganizationCreated, Org: org.ID}); err != nil {
			return err
		}
		sa := access.SuperAdmin
		return audit(ctx, tx, now, auditEvent{Action: AuditUserCreated, Target: u, After: &sa})
	})
	if err != nil {
		return nil, nil, "", err
	}
	s.notify()
	return org, u, link, nil
}
