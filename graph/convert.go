package graph

import (
	"github.com/clientportal/portal/graph/model"
	"github.com/clientportal/portal/internal/portal"
)

func userPayload(u *portal.User, err error) (*model.UserPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.UserPayload{User: u}, nil
}

func done(err error) (bool, error) { return err == nil, err }

func userFilter(f *model.UserFilter) portal.UserFilter {
	if f == nil {
		return portal.UserFilter{}
	}
	out := portal.UserFilter{Roles: f.Roles, Status: f.Status}
	if f.Search != nil {
		out.Search = *f.Search
	}
	return out
}

func userOrder(o *model.UserOrder) portal.UserOrder {
	if o == nil {
		return portal.UserOrder{Field: portal.OrderName}
	}
	return portal.UserOrder{Field: o.Field, Desc: o.Direction == model.OrderDirectionDesc}
}

// cursor reads an empty after as no cursor: typed clients send a string's
// zero value for "from the start".
func cursor(after *string) *string {
	if after != nil && *after == "" {
		return nil
	}
	return after
}
