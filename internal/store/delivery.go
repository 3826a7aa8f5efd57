package store

import (
	"context"

	"github.com/uptrace/bun"
)

// InvitationDeliveryFailed reports, for each of userIDs, whether the latest
// invitation email queued for them ended failed.
func (s *DB) InvitationDeliveryFailed(ctx context.Context, userIDs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		UserID string `bun:"user_id"`
		Status string `bun:"status"`
	}
	latest := s.idb.NewSelect().Table("outbox").ColumnExpr("user_id, MAX(created_at) AS created_at").
		Where("kind = 'invitation' AND user_id IN (?)", bun.In(userIDs)).Group("user_id")
	err := s.idb.NewSelect().TableExpr("outbox AS o").ColumnExpr("o.user_id, o.status").
		Join("JOIN (?) AS l ON l.user_id = o.user_id AND l.created_at = o.created_at", latest).
		Where("o.kind = 'invitation'").Scan(ctx, &rows)
	if err != nil {
		return nil, translate(err)
	}
	for _, r := range rows {
		out[r.UserID] = out[r.UserID] || r.Status == OutboxFailed
	}
	return out, nil
}
