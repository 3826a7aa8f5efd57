package graph

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/clientportal/portal/graph/model"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// The page of users is the API's heaviest answer (and me its most frequent): 50 users of a dozen
// fields each. gqlgen resolves every field of every user through its
// generic machinery (a field context, a closure, an error value and a
// context per field, and goroutines per user and per resolver field), which
// costs several times the work itself. pageWriter writes the users root
// field directly, from the same service calls the resolvers make: the page
// (Service.Users), and only when selected the inviters (one query), the
// delivery state of invitations (one query) and totalCount. What the viewer
// may do to each user is computed from data already loaded.
//
// It takes only selections it fully understands (every field of
// UserConnection, UserEdge, PageInfo, User and UserActions, with aliases,
// fragments, @skip/@include, and invitedBy one level deep); anything else
// (a deferred fragment, invitedBy within invitedBy), and any error, goes
// to gqlgen, which answers as it always did. The generic path and this one
// give byte-identical answers (TestPageWriterMatchesGqlgen).
type pageWriter struct {
	svc *portal.Service
	es  *executableSchema
}

var (
	connectionTypes = []string{"UserConnection"}
	edgeTypes       = []string{"UserEdge"}
	pageInfoTypes   = []string{"PageInfo"}
	userTypes       = []string{"User"}
	actionTypes     = []string{"UserActions"}
)

// pagePlan is what a selection needs loaded.
type pagePlan struct{ inviters, delivery, total bool }

// aroundRootField is a graphql.RootFieldMiddleware.
func (p pageWriter) aroundRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	rf, oc := graphql.GetRootFieldContext(ctx), graphql.GetOperationContext(ctx)
	if rf == nil || oc.Operation == nil || oc.Operation.Operation != ast.Query {
		return next(ctx)
	}
	switch rf.Field.Name {
	case "users":
	case "me":
		return p.me(ctx, rf.Field, oc, next)
	default:
		return next(ctx)
	}
	var plan pagePlan
	if !planConnection(oc, rf.Field.Selections, &plan) {
		return next(ctx)
	}
	args, err := newExecutionContext(oc, p.es, nil).field_Query_users_args(ctx, rf.Field.ArgumentMap(oc.Variables))
	if err != nil {
		return next(ctx)
	}
	page, err := p.svc.Users(ctx, args["first"].(*int), args["after"].(*string),
		userFilter(args["filter"].(*model.UserFilter)), userOrder(args["orderBy"].(*model.UserOrder)))
	if err != nil {
		return next(ctx) // gqlgen reports it as it always does
	}
	w, err := p.load(ctx, oc, page, plan)
	if err != nil {
		return next(ctx)
	}
	b := make([]byte, 0, 1024+512*len(page.Users))
	if b, ok := w.connection(b, rf.Field.Selections); ok {
		return graphql.WriterFunc(func(out io.Writer) { _, _ = out.Write(b) })
	}
	return next(ctx)
}

// load fetches what plan says the selection needs beside the page: the
// inviters and the delivery state of invitations (one query each) and the
// total count.
func (p pageWriter) load(ctx context.Context, oc *graphql.OperationContext, page *portal.UserPage, plan pagePlan) (*pageData, error) {
	w := &pageData{oc: oc, page: page, viewer: portal.ViewerFrom(ctx)}
	var err error
	if plan.inviters {
		if w.inviters, err = p.inviters(ctx, page); err != nil {
			return nil, err
		}
	}
	if plan.delivery {
		if w.failed, err = p.delivery(ctx, page); err != nil {
			return nil, err
		}
	}
	if plan.total {
		if w.total, err = p.svc.TotalCount(ctx, page); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// me writes the me root field the same way.
func (p pageWriter) me(ctx context.Context, field graphql.CollectedField, oc *graphql.OperationContext, next graphql.RootResolver) graphql.Marshaler {
	var plan pagePlan
	if !planUser(oc, field.Selections, &plan, true) {
		return next(ctx)
	}
	u, err := p.svc.Me(ctx)
	if err != nil {
		return next(ctx)
	}
	page := &portal.UserPage{Users: []*portal.User{u}} // no Actions: computed for the one user
	w, err := p.load(ctx, oc, page, plan)
	if err != nil {
		return next(ctx)
	}
	b, ok := w.user(make([]byte, 0, 512), field.Selections, u, 0)
	if !ok {
		return next(ctx)
	}
	return graphql.WriterFunc(func(out io.Writer) { _, _ = out.Write(b) })
}

func (p pageWriter) inviters(ctx context.Context, page *portal.UserPage) (map[string]*portal.User, error) {
	var ids []string
	for _, u := range page.Users {
		if u.InvitedByID != nil && !containsString(ids, *u.InvitedByID) {
			ids = append(ids, *u.InvitedByID)
		}
	}
	out := make(map[string]*portal.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	users, err := p.svc.RelatedUsers(ctx, page.Users[0].OrgID, ids)
	if err != nil {
		return nil, err
	}
	for i, u := range users {
		if u != nil {
			out[ids[i]] = u
		}
	}
	return out, nil
}

func (p pageWriter) delivery(ctx context.Context, page *portal.UserPage) (map[string]bool, error) {
	var invited []*portal.User
	for _, u := range page.Users {
		if u.Status == portal.StatusInvited {
			invited = append(invited, u)
		}
	}
	out := make(map[string]bool, len(invited))
	if len(invited) == 0 {
		return out, nil
	}
	failed, err := p.svc.InvitationDeliveryFailed(ctx, invited)
	if err != nil {
		return nil, err
	}
	for i, u := range invited {
		out[u.ID] = failed[i]
	}
	return out, nil
}

func containsString(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// collect is graphql.CollectFields (fragments, @skip, @include, aliases;
// cached per selection set), or false when a field is deferred.
func collect(oc *graphql.OperationContext, sel ast.SelectionSet, types []string) ([]graphql.CollectedField, bool) {
	fields := graphql.CollectFields(oc, sel, types)
	for _, f := range fields {
		if len(f.Deferrables) > 0 {
			return nil, false
		}
	}
	return fields, true
}

func planConnection(oc *graphql.OperationContext, sel ast.SelectionSet, plan *pagePlan) bool {
	fields, ok := collect(oc, sel, connectionTypes)
	if !ok {
		return false
	}
	for _, f := range fields {
		switch f.Name {
		case "__typename":
		case "totalCount":
			plan.total = true
		case "nodes":
			if !planUser(oc, f.Selections, plan, true) {
				return false
			}
		case "edges":
			edge, ok := collect(oc, f.Selections, edgeTypes)
			if !ok {
				return false
			}
			for _, e := range edge {
				switch e.Name {
				case "__typename", "cursor":
				case "node":
					if !planUser(oc, e.Selections, plan, true) {
						return false
					}
				default:
					return false
				}
			}
		case "pageInfo":
			info, ok := collect(oc, f.Selections, pageInfoTypes)
			if !ok {
				return false
			}
			for _, i := range info {
				switch i.Name {
				case "__typename", "hasNextPage", "hasPreviousPage", "startCursor", "endCursor":
				default:
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// planUser checks a selection on User; top is false for an inviter, whose
// own inviter or delivery state would need more I/O (gqlgen does those).
func planUser(oc *graphql.OperationContext, sel ast.SelectionSet, plan *pagePlan, top bool) bool {
	fields, ok := collect(oc, sel, userTypes)
	if !ok {
		return false
	}
	for _, f := range fields {
		switch f.Name {
		case "__typename", "id", "name", "email", "role", "status", "twoFactorEnabled", "lastActiveAt", "createdAt",
			"invitationSentAt", "assignableRoles":
		case "viewerCan":
			can, ok := collect(oc, f.Selections, actionTypes)
			if !ok {
				return false
			}
			for _, c := range can {
				switch c.Name {
				case "__typename", "changeRole", "resendInvitation", "sendPasswordReset", "resetTwoFactor", "remove":
				default:
					return false
				}
			}
		case "invitedBy":
			if !top || !planUser(oc, f.Selections, plan, false) {
				return false
			}
			plan.inviters = true
		case "invitationDeliveryFailed":
			if !top {
				return false
			}
			plan.delivery = true
		default:
			return false
		}
	}
	return true
}

// pageData is a loaded page and what its selection needs.
type pageData struct {
	oc       *graphql.OperationContext
	fields   map[selectionKey][]graphql.CollectedField
	page     *portal.UserPage
	viewer   *portal.Viewer
	inviters map[string]*portal.User
	failed   map[string]bool
	total    int
}

// selectionKey names a selection set (by its first selection) on a type.
type selectionKey struct {
	first ast.Selection
	n     int
	typ   string
}

// collect is collect for rendering: a selection was planned, and is
// collected once per answer rather than once per user (each call to
// graphql.CollectFields makes its cache key).
func (w *pageData) collect(sel ast.SelectionSet, types []string) []graphql.CollectedField {
	if len(sel) == 0 {
		return nil
	}
	k := selectionKey{sel[0], len(sel), types[0]}
	f, ok := w.fields[k]
	if !ok {
		f, _ = collect(w.oc, sel, types)
		if w.fields == nil {
			w.fields = map[selectionKey][]graphql.CollectedField{}
		}
		w.fields[k] = f
	}
	return f
}

func (w *pageData) connection(b []byte, sel ast.SelectionSet) ([]byte, bool) {
	fields := w.collect(sel, connectionTypes)
	ok := true
	b = append(b, '{')
	for i, f := range fields {
		b = key(b, i, f.Alias)
		switch f.Name {
		case "__typename":
			b = jsonString(b, "UserConnection")
		case "totalCount":
			b = strconv.AppendInt(b, int64(w.total), 10)
		case "nodes":
			b = append(b, '[')
			for j, u := range w.page.Users {
				if j > 0 {
					b = append(b, ',')
				}
				if b, ok = w.user(b, f.Selections, u, j); !ok {
					return nil, false
				}
			}
			b = append(b, ']')
		case "edges":
			edge := w.collect(f.Selections, edgeTypes)
			b = append(b, '[')
			for j, u := range w.page.Users {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, '{')
				for k, e := range edge {
					b = key(b, k, e.Alias)
					switch e.Name {
					case "__typename":
						b = jsonString(b, "UserEdge")
					case "cursor":
						b = jsonString(b, w.page.Cursor(j))
					case "node":
						if b, ok = w.user(b, e.Selections, u, j); !ok {
							return nil, false
						}
					}
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		case "pageInfo":
			info := w.collect(f.Selections, pageInfoTypes)
			n := len(w.page.Users)
			b = append(b, '{')
			for k, x := range info {
				b = key(b, k, x.Alias)
				switch x.Name {
				case "__typename":
					b = jsonString(b, "PageInfo")
				case "hasNextPage":
					b = strconv.AppendBool(b, w.page.HasNext)
				case "hasPreviousPage":
					b = strconv.AppendBool(b, w.page.HasPrevious)
				case "startCursor", "endCursor":
					if n == 0 {
						b = append(b, "null"...)
					} else if x.Name == "startCursor" {
						b = jsonString(b, w.page.Cursor(0))
					} else {
						b = jsonString(b, w.page.Cursor(n-1))
					}
				}
			}
			b = append(b, '}')
		}
	}
	return append(b, '}'), true
}

// actions is what the viewer may do to u: from the page when u is the
// page's i-th user (worked out once per page), else computed.
func (w *pageData) actions(u *portal.User, i int) (portal.Actions, []access.Role) {
	if i >= 0 && i < len(w.page.Actions) && i < len(w.page.Assignable) && w.page.Users[i] == u {
		return w.page.Actions[i], w.page.Assignable[i]
	}
	return portal.Can(w.viewer, u), portal.AssignableRoles(w.viewer, u)
}

// user writes u, the page's at-th user (or -1: an inviter).
func (w *pageData) user(b []byte, sel ast.SelectionSet, u *portal.User, at int) ([]byte, bool) {
	fields := w.collect(sel, userTypes)
	ok := true
	b = append(b, '{')
	for i, f := range fields {
		b = key(b, i, f.Alias)
		switch f.Name {
		case "__typename":
			b = jsonString(b, "User")
		case "id":
			b = jsonString(b, u.ID)
		case "name":
			b = jsonString(b, u.Name)
		case "email":
			b = jsonString(b, u.Email)
		case "role":
			if !u.Role.Valid() {
				return nil, false
			}
			b = jsonString(b, string(u.Role))
		case "status":
			if u.Status != portal.StatusActive && u.Status != portal.StatusInvited {
				return nil, false
			}
			b = jsonString(b, string(u.Status))
		case "twoFactorEnabled":
			b = strconv.AppendBool(b, u.TwoFactorEnabled)
		case "lastActiveAt":
			b = jsonTime(b, u.LastActiveAt)
		case "invitationSentAt":
			b = jsonTime(b, u.InvitationSentAt)
		case "createdAt":
			if u.CreatedAt.IsZero() {
				return nil, false // non-null: gqlgen reports it
			}
			b = jsonTime(b, &u.CreatedAt)
		case "invitationDeliveryFailed":
			b = strconv.AppendBool(b, u.Status == portal.StatusInvited && w.failed[u.ID])
		case "assignableRoles":
			b = append(b, '[')
			_, roles := w.actions(u, at)
			for j, r := range roles {
				if j > 0 {
					b = append(b, ',')
				}
				b = jsonString(b, string(r))
			}
			b = append(b, ']')
		case "viewerCan":
			a, _ := w.actions(u, at)
			can := w.collect(f.Selections, actionTypes)
			b = append(b, '{')
			for k, c := range can {
				b = key(b, k, c.Alias)
				switch c.Name {
				case "__typename":
					b = jsonString(b, "UserActions")
				case "changeRole":
					b = strconv.AppendBool(b, a.ChangeRole)
				case "resendInvitation":
					b = strconv.AppendBool(b, a.ResendInvitation)
				case "sendPasswordReset":
					b = strconv.AppendBool(b, a.SendPasswordReset)
				case "resetTwoFactor":
					b = strconv.AppendBool(b, a.ResetTwoFactor)
				case "remove":
					b = strconv.AppendBool(b, a.Remove)
				}
			}
			b = append(b, '}')
		case "invitedBy":
			var inv *portal.User
			if u.InvitedByID != nil {
				inv = w.inviters[*u.InvitedByID]
			}
			if inv == nil {
				b = append(b, "null"...)
			} else if b, ok = w.user(b, f.Selections, inv, -1); !ok {
				return nil, false
			}
		}
	}
	return append(b, '}'), true
}

// key writes a member name, after a comma unless it is the first.
func key(b []byte, i int, name string) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = jsonString(b, name)
	return append(b, ':')
}

// jsonString appends s quoted as gqlgen's MarshalString writes it.
func jsonString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '\t':
			b = append(b, `\t`...)
		case '\r':
			b = append(b, `\r`...)
		case '\n':
			b = append(b, `\n`...)
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonTime appends t as graphql.MarshalTime writes it (null when nil or zero).
func jsonTime(b []byte, t *time.Time) []byte {
	if t == nil || t.IsZero() {
		return append(b, "null"...)
	}
	return strconv.AppendQuote(b, t.Format(time.RFC3339Nano))
}
