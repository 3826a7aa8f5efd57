package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

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
	_, err := s.idb.NewInsert().Model(&auditRow{ID: e.ID, OrgID: e.OrgID, ActorID: e.ActorID, Action: string(e.Action),
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
		e := &portal.AuditEntry{ID: r.ID, OrgID: r.OrgID, ActorID: r.ActorID, Action: portal.AuditAction(r.Action),
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
