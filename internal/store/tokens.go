package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

type tokenRow struct {
	bun.BaseModel `bun:"table:tokens"`
	ID            string     `bun:"id,pk"`
	UserID        string     `bun:"user_id"`
	Kind          string     `bun:"kind"`
	Hash          []byte     `bun:"hash"`
	ExpiresAt     time.Time  `bun:"expires_at"`
	UsedAt        *time.Time `bun:"used_at"`
	CreatedAt     time.Time  `bun:"created_at"`
}

func (s *DB) CreateToken(ctx context.Context, t *portal.Token) error {
	if t.ID == "" {
		t.ID = newID()
	}
	_, err := s.idb.NewInsert().Model(&tokenRow{ID: t.ID, UserID: t.UserID, Kind: string(t.Kind),
		Hash: t.Hash, ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt}).Exec(ctx)
	return translate(err)
}

func (s *DB) FindToken(ctx context.Context, kind portal.TokenKind, hash []byte, now time.Time) (*portal.Token, error) {
	var r tokenRow
	if err := s.idb.NewSelect().Model(&r).Where("hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", hash, string(kind), now).Scan(ctx); err != nil {
		return nil, translate(err)
	}
	return r.token(), nil
}

func (r *tokenRow) token() *portal.Token {
	return &portal.Token{ID: r.ID, UserID: r.UserID, Kind: portal.TokenKind(r.Kind), Hash: r.Hash,
		ExpiresAt: r.ExpiresAt.UTC(), UsedAt: utcPtr(r.UsedAt), CreatedAt: r.CreatedAt.UTC()}
}

// ConsumeToken claims the token with one conditional UPDATE: of many
// concurrent callers exactly one sees a row affected.
func (s *DB) ConsumeToken(ctx context.Context, kind portal.TokenKind, hash []byte, now time.Time) (*portal.Token, error) {
	var t *portal.Token
	err := s.InTx(ctx, func(tx portal.Store) error {
		idb := tx.(*DB).idb
		res, err := idb.NewUpdate().Table("tokens").Set("used_at = ?", now).
			Where("hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", hash, string(kind), now).Exec(ctx)
		if err := affectedOne(res, err); err != nil {
			return err
		}
		var r tokenRow
		if err := idb.NewSelect().Model(&r).Where("hash = ?", hash).Scan(ctx); err != nil {
			return translate(err)
		}
		t = r.token()
		return nil
	})
	return t, err
}

func (s *DB) RevokeTokens(ctx context.Context, userID string, kind portal.TokenKind, now time.Time) error {
	q := s.idb.NewUpdate().Table("tokens").Set("used_at = ?", now).Where("user_id = ? AND used_at IS NULL", userID)
	if kind != "" {
		q = q.Where("kind = ?", string(kind))
	}
	_, err := q.Exec(ctx)
	return translate(err)
}

type auditRow struct {
	bun.BaseModel `bun:"table:audit_log"`
	ID            string    `bun:"id,pk"`
	OrgID         string    `bun:"org_id"`
	ActorID       *string   `bun:"actor_id"`
	Action        string    `bun:"action"`
	TargetID      *string   `bun:"target_id"`
	BeforeRole    *string   `bun:"before_role"`
	AfterRole     *string   `bun:"after_role"`
	CreatedAt     time.Time `bun:"created_at"`
}

func rolePtr(r *access.Role) *string {
	if r == nil {
		return nil
	}
	s := string(*r)
	return &s
}

func (s *DB) AddAudit(ctx context.Context, e *portal.AuditEntry) error {
	if e.ID == "" {
		e.ID = newID()
	}
	if s.postgres {
		_, err := s.pgExec(ctx, SQLAddAudit, e.ID, e.OrgID, e.ActorID, e.Action, e.TargetID,
			rolePtr(e.BeforeRole), rolePtr(e.AfterRole), e.CreatedAt)
		return err
	}
	_, err := s.idb.NewInsert().Model(&auditRow{ID: e.ID, OrgID: e.OrgID, ActorID: e.ActorID, Action: e.Action,
		TargetID: e.TargetID, BeforeRole: rolePtr(e.BeforeRole), AfterRole: rolePtr(e.AfterRole), CreatedAt: e.CreatedAt}).Exec(ctx)
	return translate(err)
}

// ListAudit pages by id: ids are UUIDv7, so id order is creation order.
func (s *DB) ListAudit(ctx context.Context, orgID string, q portal.AuditQuery) ([]*portal.AuditEntry, error) {
	var rows []auditRow
	sq := s.idb.NewSelect().Model(&rows).Where("org_id = ?", orgID).OrderExpr("id DESC").Limit(int64(q.Limit))
	if q.After != nil {
		if !validID(*q.After) {
			return nil, portal.Invalid("after", "invalid cursor")
		}
		sq = sq.Where("id < ?", *q.After)
	}
	if err := sq.Scan(ctx); err != nil {
		return nil, translate(err)
	}
	out := make([]*portal.AuditEntry, len(rows))
	for i, r := range rows {
		e := &portal.AuditEntry{ID: r.ID, OrgID: r.OrgID, ActorID: r.ActorID, Action: r.Action,
			TargetID: r.TargetID, CreatedAt: r.CreatedAt.UTC()}
		if r.BeforeRole != nil {
			br := access.Role(*r.BeforeRole)
			e.BeforeRole = &br
		}
		if r.AfterRole != nil {
			ar := access.Role(*r.AfterRole)
			e.AfterRole = &ar
		}
		out[i] = e
	}
	return out, nil
}
