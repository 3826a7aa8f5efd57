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
	ActorName     *string   `bun:"actor_name"`
	ActorEmail    *string   `bun:"actor_email"`
	Action        string    `bun:"action"`
	TargetID      *string   `bun:"target_id"`
	TargetName    *string   `bun:"target_name"`
	TargetEmail   *string   `bun:"target_email"`
	BeforeRole    *string   `bun:"before_role"`
	AfterRole     *string   `bun:"after_role"`
	Reason        *string   `bun:"reason"`
	ClientIP      *string   `bun:"client_ip"`
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
		_, err := s.pgExec(ctx, SQLAddAudit, e.ID, e.OrgID, e.ActorID, e.ActorName, e.ActorEmail, string(e.Action),
			e.TargetID, e.TargetName, e.TargetEmail, rolePtr(e.BeforeRole), rolePtr(e.AfterRole), e.Reason, e.ClientIP, e.CreatedAt)
		return err
	}
	_, err := s.idb.NewInsert().Model(&auditRow{ID: e.ID, OrgID: e.OrgID,
		ActorID: e.ActorID, ActorName: e.ActorName, ActorEmail: e.ActorEmail, Action: string(e.Action),
		TargetID: e.TargetID, TargetName: e.TargetName, TargetEmail: e.TargetEmail,
		BeforeRole: rolePtr(e.BeforeRole), AfterRole: rolePtr(e.AfterRole), Reason: e.Reason, ClientIP: e.ClientIP,
		CreatedAt: e.CreatedAt}).Exec(ctx)
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
		e := &portal.AuditEntry{ID: r.ID, OrgID: r.OrgID, ActorID: r.ActorID, ActorName: r.ActorName, ActorEmail: r.ActorEmail,
			Action: portal.AuditAction(r.Action), TargetID: r.TargetID, TargetName: r.TargetName, TargetEmail: r.TargetEmail,
			Reason: r.Reason, ClientIP: r.ClientIP, CreatedAt: r.CreatedAt.UTC()}
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

// PruneAudit deletes up to limit entries (of every organisation) created
// before before, and returns how many it deleted. Batches keep each
// statement short, so the log's writers never wait long.
func (s *DB) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	old := s.idb.NewSelect().Model((*auditRow)(nil)).Column("id").Where("created_at < ?", before).Limit(int64(limit))
	res, err := s.idb.NewDelete().Model((*auditRow)(nil)).Where("id IN (?)", old).Exec(ctx)
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
