package graph

import (
	"context"
	"slices"
	"sync"
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
	users    *dataloadgen.Loader[userRef, *portal.User]
	delivery *dataloadgen.Loader[*portal.User, bool]
}

// userRef names a user that an object the caller already holds refers to
// (a user's inviter, an audit entry's actor or target), in that object's
// organisation: a reference never leads out of it.
type userRef struct{ org, id string }

type loadersKey struct{}

func newLoaders(svc *portal.Service) *loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &loaders{
		svc: svc,
		users: dataloadgen.NewLoader(func(ctx context.Context, refs []userRef) ([]*portal.User, []error) {
			users, err := fetchRefs(ctx, svc, refs)
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

// lazyLoaders makes the request's loaders when a field first needs them:
// most requests (me, a mutation, a page written by pageWriter) never do.
type lazyLoaders struct {
	svc  *portal.Service
	once sync.Once
	l    *loaders
}

func withLoaders(ctx context.Context, svc *portal.Service) context.Context {
	return context.WithValue(ctx, loadersKey{}, &lazyLoaders{svc: svc})
}

func loadersFrom(ctx context.Context) *loaders {
	lz := ctx.Value(loadersKey{}).(*lazyLoaders)
	lz.once.Do(func() { lz.l = newLoaders(lz.svc) })
	return lz.l
}

// fetchRefs loads the referenced users, one query per organisation (in
// practice one), in the order of refs.
func fetchRefs(ctx context.Context, svc *portal.Service, refs []userRef) ([]*portal.User, error) {
	byOrg := map[string][]string{}
	for _, r := range refs {
		byOrg[r.org] = append(byOrg[r.org], r.id)
	}
	found := map[userRef]*portal.User{}
	for org, ids := range byOrg {
		users, err := svc.RelatedUsers(ctx, org, ids)
		if err != nil {
			return nil, err
		}
		for i, u := range users {
			found[userRef{org, ids[i]}] = u
		}
	}
	out := make([]*portal.User, len(refs))
	for i, r := range refs {
		out[i] = found[r]
	}
	return out, nil
}

// loadUser loads the user that id refers to in organisation org; a
// missing or removed user is null.
func loadUser(ctx context.Context, org string, id *string) (*portal.User, error) {
	if id == nil {
		return nil, nil
	}
	return loadersFrom(ctx).users.Load(ctx, userRef{org, *id})
}

func loadDeliveryFailed(ctx context.Context, u *portal.User) (bool, error) {
	if u.Status != portal.StatusInvited {
		return false, nil
	}
	return loadersFrom(ctx).delivery.Load(ctx, u)
}

// primeUsers loads in one query the users that refs name into the users
// loader, when the selection below the current field asks for a
// user-valued field at one of paths (e.g. "invitedBy", or "node",
// "invitedBy" below edges). The loader's time window alone splits a page
// into several batches whenever the per-element goroutines start late
// (under load), so a page would cost more queries the more users it has;
// primed, it costs one. On an error nothing is primed and the per-field
// loads report it.
func primeUsers(ctx context.Context, refs []userRef, paths ...[]string) {
	if !slices.ContainsFunc(paths, func(p []string) bool { return selects(ctx, p...) }) {
		return
	}
	var want []userRef
	for _, r := range refs {
		if r.id != "" && !slices.Contains(want, r) {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		return
	}
	l := loadersFrom(ctx)
	users, err := fetchRefs(ctx, l.svc, want)
	if err != nil {
		return
	}
	for i, r := range want {
		l.users.Prime(r, users[i])
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

// inviterRefs are the invitedBy references of a page of users.
func inviterRefs(p *portal.UserPage) []userRef {
	refs := make([]userRef, 0, len(p.Users))
	for _, u := range p.Users {
		if u.InvitedByID != nil {
			refs = append(refs, userRef{u.OrgID, *u.InvitedByID})
		}
	}
	return refs
}

// auditRefs are the actor and target references of a page of the audit log.
func auditRefs(p *portal.AuditPage) []userRef {
	refs := make([]userRef, 0, 2*len(p.Entries))
	for _, e := range p.Entries {
		for _, id := range []*string{e.ActorID, e.TargetID} {
			if id != nil {
				refs = append(refs, userRef{e.OrgID, *id})
			}
		}
	}
	return refs
}
