package store

import "context"

// InvitationDeliveryFailed reports, for each of userIDs, whether the latest
// invitation email queued for them ended failed (portal.Store's view of
// InvitationDelivery).
func (s *DB) InvitationDeliveryFailed(ctx context.Context, userIDs []string) (map[string]bool, error) {
	states, err := s.InvitationDelivery(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(states))
	for id, st := range states {
		out[id] = st.Failed
	}
	return out, nil
}
