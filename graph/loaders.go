package graph

import (
	"context"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/clientportal/portal/internal/portal"
)

// loaders batch the per-user lookups of one request (invitedBy, audit
// actors and targets, delivery state), so a page of 100 users costs one
// query per field, not one per user.
type loaders struct {
	svc      *portal.Service
	users    *dataloadgen.Loader[string, *portal.User]
	delivery *dataloadgen.Loader[*portal.User, bool]
}

type loadersKey struct{}

func newLoaders(svc *portal.Service) *loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &loaders{
		svc: svc,
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

// primeUsers loads in one query the users with the given ids (nil ids
// skipped) into the users loader, when the selection below the current
// field asks for a user-valued field at path (e.g. "invitedBy", or "node",
// "invitedBy" below edges). The loader's time window alone splits a page
// into several batches whenever the per-element goroutines start late
// (under load), so a page would cost more queries the more users it has;
// primed, it costs one. On an error nothing is primed and the per-field
// loads report it.
func primeUsers(ctx context.Context, ids []*string, paths ...[]string) {
	if !slices.ContainsFunc(paths, func(p []string) bool { return selects(ctx, p...) }) {
		return
	}
	var want []string
	for _, id := range ids {
		if id != nil && !slices.Contains(want, *id) {
			want = append(want, *id)
		}
	}
	if len(want) == 0 {
		return
	}
	l := loadersFrom(ctx)
	users, err := l.svc.UsersByID(ctx, want)
	if err != nil {
		return
	}
	for i, id := range want {
		l.users.Prime(id, users[i])
	}
}

// selects reports whether the selection of the current field asks for the
// field at path (by field name, through fragments and aliases).
func selects(ctx context.Context, path ...string) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return false
	}
	oc := graphql.GetOperationContext(ctx)
	sel := fc.Field.Selections
	for _, name := range path {
		var next ast.SelectionSet
		found := false
		for _, f := range graphql.CollectFields(oc, sel, nil) {
			if f.Name == name {
				next, found = append(next, f.Selections...), true
			}
		}
		if !found {
			return false
		}
		sel = next
	}
	return true
}

// inviterIDs are the invitedBy ids of a page of users.
func inviterIDs(p *portal.UserPage) []*string {
	ids := make([]*string, len(p.Users))
	for i, u := range p.Users {
		ids[i] = u.InvitedByID
	}
	return ids
}

// auditUserIDs are the actor and target ids of a page of the audit log.
func auditUserIDs(p *portal.AuditPage) []*string {
	ids := make([]*string, 0, 2*len(p.Entries))
	for _, e := range p.Entries {
		ids = append(ids, e.ActorID, e.TargetID)
	}
	return ids
}
