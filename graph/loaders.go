package graph

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/clientportal/portal/internal/portal"
)

// loaders batch the per-user lookups of one request (invitedBy, audit
// actors and targets, delivery state), so a page of 100 users costs one
// query per field, not one per user.
type loaders struct {
	users    *dataloadgen.Loader[string, *portal.User]
	delivery *dataloadgen.Loader[*portal.User, bool]
}

type loadersKey struct{}

func newLoaders(svc *portal.Service) *loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &loaders{
		users: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*portal.User, []error) {
			users, err := svc.UsersByID(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			return users, nil
		}, wait),
		delivery: dataloadgen.NewLoader(func(ctx context.Context, users []*portal.User) ([]bool, []error) {
			failed, err := svc.InvitationDeliveryFailed(ctx, users)
			if err != nil {
				return nil, []error{err}
			}
			return failed, nil
		}, wait),
	}
}

func withLoaders(ctx context.Context, svc *portal.Service) context.Context {
	return context.WithValue(ctx, loadersKey{}, newLoaders(svc))
}

func loadersFrom(ctx context.Context) *loaders {
	return ctx.Value(loadersKey{}).(*loaders)
}

// loadUser loads a user of the viewer's organisation by id; a missing or
// removed user is null.
func loadUser(ctx context.Context, id *string) (*portal.User, error) {
	if id == nil {
		return nil, nil
	}
	return loadersFrom(ctx).users.Load(ctx, *id)
}

func loadDeliveryFailed(ctx context.Context, u *portal.User) (bool, error) {
	if u.Status != portal.StatusInvited {
		return false, nil
	}
	return loadersFrom(ctx).delivery.Load(ctx, u)
}
