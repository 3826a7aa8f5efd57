package store

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

type orgRow struct {
	bun.BaseModel `bun:"table:organizations"`
	ID            string    `bun:"id,pk"`
	Name          string    `bun:"name"`
	CreatedAt     time.Time `bun:"created_at"`
}

type userRow struct {
	bun.BaseModel     `bun:"table:users"`
	ID                string     `bun:"id,pk"`
	OrgID             string     `bun:"org_id"`
	Email             string     `bun:"email"`
	Name              string     `bun:"name"`
	NameKey           string     `bun:"name_key"`
	Role              string     `bun:"role"`
	RoleOrder         int        `bun:"role_order"`
	Status            string     `bun:"status"`
	PasswordHash      string     `bun:"password_hash"`
	TOTPSecret        []byte     `bun:"totp_secret"`
	TwoFactorEnabled  bool       `bun:"two_factor_enabled"`
	TOTPLastStep      int64      `bun:"totp_last_step"`
	TOTPFailures      int        `bun:"totp_failures"`
	TOTPFailuresSince *time.Time `bun:"totp_failures_since"`
	InvitedByID       *string    `bun:"invited_by_id"`
	CreatedAt         time.Time  `bun:"created_at"`
	LastActiveAt      *time.Time `bun:"last_active_at"`
	InvitationSentAt  *time.Time `bun:"invitation_sent_at"`
	SessionsNotBefore *time.Time `bun:"sessions_not_before"`
	RemovedAt         *time.Time `bun:"removed_at"`
}

// roleOrder sorts roles in the enum's declared order (SUPER_ADMIN first).
func roleOrder(r access.Role) int {
	for i, x := range access.Roles {
		if x == r {
			return i
		}
	}
	return len(access.Roles)
}

func toUserRow(u *portal.User) *userRow {
	return &userRow{
		ID: u.ID, OrgID: u.OrgID, Email: u.Email, Name: u.Name, NameKey: strings.ToLower(u.Name),
		Role: string(u.Role), RoleOrder: roleOrder(u.Role), Status: string(u.Status),
		PasswordHash: u.PasswordHash, TOTPSecret: u.TOTPSecret, TwoFactorEnabled: u.TwoFactorEnabled,
		TOTPLastStep: u.TOTPLastStep, TOTPFailures: u.TOTPFailures, TOTPFailuresSince: u.TOTPFailuresSince,
		InvitedByID: u.InvitedByID, CreatedAt: u.CreatedAt,
		LastActiveAt: u.LastActiveAt, InvitationSentAt: u.InvitationSentAt, SessionsNotBefore: u.SessionsNotBefore,
	}
}

func (r *userRow) user() *portal.User {
	return &portal.User{
		ID: r.ID, OrgID: r.OrgID, Email: r.Email, Name: r.Name, Role: access.Role(r.Role),
		Status: portal.Status(r.Status), PasswordHash: r.PasswordHash, TOTPSecret: r.TOTPSecret,
		TwoFactorEnabled: r.TwoFactorEnabled, TOTPLastStep: r.TOTPLastStep, InvitedByID: r.InvitedByID,
		TOTPFailures: r.TOTPFailures, TOTPFailuresSince: utcPtr(r.TOTPFailuresSince),
		CreatedAt: r.CreatedAt.UTC(), LastActiveAt: utcPtr(r.LastActiveAt), InvitationSentAt: utcPtr(r.InvitationSentAt),
		SessionsNotBefore: utcPtr(r.SessionsNotBefore),
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// newID returns a time-ordered UUID (v7), so ids also sort by creation.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// validID reports whether id could be one of ours; anything else is
// answered as not found without a query.
func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

func (s *DB) CreateOrganization(ctx context.Context, o *portal.Organization) error {
	if o.ID == "" {
		o.ID = newID()
	}
	_, err := s.idb.NewInsert().Model(&orgRow{ID: o.ID, Name: o.Name, CreatedAt: o.CreatedAt}).Exec(ctx)
	return translate(err)
}

func (s *DB) Organization(ctx context.Context, id string) (*portal.Organization, error) {
	if !validID(id) {
		return nil, portal.ErrNotFound
	}
	var r orgRow
	if err := s.idb.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, translate(err)
	}
	return &portal.Organization{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}, nil
}

func (s *DB) CreateUser(ctx context.Context, u *portal.User) error {
	if u.ID == "" {
		u.ID = newID()
	}
	_, err := s.idb.NewInsert().Model(toUserRow(u)).Exec(ctx)
	return translate(err)
}

func (s *DB) liveUsers(r *userRow) *bun.SelectQuery {
	return s.idb.NewSelect().Model(r).Where("removed_at IS NULL")
}

func (s *DB) User(ctx context.Context, orgID, id string) (*portal.User, error) {
	if !validID(id) {
		return nil, portal.ErrNotFound
	}
	var r userRow
	if err := s.liveUsers(&r).Where("id = ? AND org_id = ?", id, orgID).Scan(ctx); err != nil {
		return nil, translate(err)
	}
	return r.user(), nil
}

func (s *DB) LockUser(ctx context.Context, orgID, id string) (*portal.User, error) {
	if !validID(id) {
		return nil, portal.ErrNotFound
	}
	var r userRow
	q := s.liveUsers(&r).Where("id = ? AND org_id = ?", id, orgID)
	if s.postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, translate(err)
	}
	return r.user(), nil
}

func (s *DB) UserByID(ctx context.Context, id string) (*portal.User, error) {
	if !validID(id) {
		return nil, portal.ErrNotFound
	}
	var r userRow
	if err := s.liveUsers(&r).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, translate(err)
	}
	return r.user(), nil
}

func (s *DB) UserByEmail(ctx context.Context, email string) (*portal.User, error) {
	var r userRow
	if err := s.liveUsers(&r).Where("lower(email) = ?", strings.ToLower(email)).Scan(ctx); err != nil {
		return nil, translate(err)
	}
	return r.user(), nil
}

func (s *DB) UsersByID(ctx context.Context, orgID string, ids []string) ([]*portal.User, error) {
	valid := ids[:0:0]
	for _, id := range ids {
		if validID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	var rows []userRow
	if err := s.idb.NewSelect().Model(&rows).Where("removed_at IS NULL AND org_id = ?", orgID).
		Where("id IN (?)", bun.In(valid)).Scan(ctx); err != nil {
		return nil, translate(err)
	}
	out := make([]*portal.User, len(rows))
	for i := range rows {
		out[i] = rows[i].user()
	}
	return out, nil
}

// updateUser runs one UPDATE of the live user userID; set adds its SET
// clauses. ErrNotFound when no live user has that id.
func (s *DB) updateUser(ctx context.Context, userID string, set func(*bun.UpdateQuery) *bun.UpdateQuery) error {
	if !validID(userID) {
		return portal.ErrNotFound
	}
	res, err := set(s.idb.NewUpdate().Table("users")).Where("id = ? AND removed_at IS NULL", userID).Exec(ctx)
	return affectedOne(res, err)
}

func (s *DB) SetPassword(ctx context.Context, userID, hash string) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("password_hash = ?", hash)
	})
}

func (s *DB) Activate(ctx context.Context, userID string) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("status = ?", string(portal.StatusActive))
	})
}

// SetRole also rewrites the role's sort key.
func (s *DB) SetRole(ctx context.Context, userID string, r access.Role) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("role = ?", string(r)).Set("role_order = ?", roleOrder(r))
	})
}

func (s *DB) MarkInvitationSent(ctx context.Context, userID string, at time.Time) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("invitation_sent_at = ?", at)
	})
}

func (s *DB) SetTOTPSecret(ctx context.Context, userID string, sealed []byte) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("totp_secret = ?", sealed)
	})
}

func (s *DB) EnableTwoFactor(ctx context.Context, userID string) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("two_factor_enabled = ?", true)
	})
}

func (s *DB) ClearTwoFactor(ctx context.Context, userID string) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("totp_secret = NULL").Set("two_factor_enabled = ?", false).
			Set("totp_failures = 0").Set("totp_failures_since = NULL")
	})
}

func (s *DB) EndSessions(ctx context.Context, userID string, at time.Time) error {
	return s.updateUser(ctx, userID, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("sessions_not_before = ?", at)
	})
}

func (s *DB) RemoveUser(ctx context.Context, orgID, id string, at time.Time) error {
	res, err := s.idb.NewUpdate().Table("users").Set("removed_at = ?", at).
		Set("password_hash = ''").Set("totp_secret = NULL").
		Where("id = ? AND org_id = ? AND removed_at IS NULL", id, orgID).Exec(ctx)
	return affectedOne(res, err)
}

func (s *DB) AcceptTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res, err := s.idb.NewUpdate().Table("users").Set("totp_last_step = ?", step).
		Set("totp_failures = 0").Set("totp_failures_since = NULL").
		Where("id = ? AND totp_last_step < ? AND removed_at IS NULL", userID, step).Exec(ctx)
	if err != nil {
		return false, translate(err)
	}
	n, err := res.RowsAffected()
	return n == 1, translate(err)
}

func (s *DB) RecordWrongCode(ctx context.Context, userID string, now time.Time, window time.Duration) (int, time.Time, error) {
	fresh := now.Add(-window)
	var r userRow
	err := s.idb.NewRaw(`UPDATE users SET
		totp_failures = CASE WHEN totp_failures_since IS NULL OR totp_failures_since <= ? THEN 1 ELSE totp_failures + 1 END,
		totp_failures_since = CASE WHEN totp_failures_since IS NULL OR totp_failures_since <= ? THEN ? ELSE totp_failures_since END
		WHERE id = ? AND removed_at IS NULL RETURNING totp_failures, totp_failures_since`, fresh, fresh, now, userID).Scan(ctx, &r)
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	if r.TOTPFailuresSince == nil {
		return 0, time.Time{}, portal.ErrNotFound
	}
	return r.TOTPFailures, r.TOTPFailuresSince.UTC(), nil
}

func (s *DB) TouchLastActive(ctx context.Context, userID string, now time.Time, interval time.Duration) error {
	_, err := s.idb.NewUpdate().Table("users").Set("last_active_at = ?", now).
		Where("id = ? AND removed_at IS NULL", userID).
		Where("(last_active_at IS NULL OR last_active_at <= ?)", now.Add(-interval)).Exec(ctx)
	return translate(err)
}

func affectedOne(res interface{ RowsAffected() (int64, error) }, err error) error {
	if err != nil {
		return translate(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return translate(err)
	}
	if n == 0 {
		return portal.ErrNotFound
	}
	return nil
}
