package portal_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// TestPageActionsAreCan: what a page says the viewer may do to each user
// (worked out once per kind of user) is exactly Can and AssignableRoles of
// that user, for viewers of every managing rank and users of every role,
// status, 2FA state, and the viewer themself.
func TestPageActionsAreCan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	super, _ := e.org("Acme", "ann@example.com")
	viewers := []string{super}
	for i, r := range []access.Role{access.Admin, access.Creator, access.Viewer, access.EcommerceViewer} {
		tok, _ := e.member(super, fmt.Sprintf("m%d@example.com", i), r)
		viewers = append(viewers, tok)
		if _, err := e.svc.CreateUser(e.as(super), fmt.Sprintf("i%d@example.com", i), "Invited", r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tok := range viewers {
		ctx := e.as(tok)
		v := portal.ViewerFrom(ctx)
		p, err := e.svc.Users(ctx, nil, nil, portal.UserFilter{}, portal.UserOrder{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Users) < 9 {
			t.Fatalf("%d users", len(p.Users))
		}
		for i, u := range p.Users {
			if p.Actions[i] != portal.Can(v, u) || !slices.Equal(p.Assignable[i], portal.AssignableRoles(v, u)) {
				t.Errorf("%s viewing %s (%s, %s): page %+v %v, Can %+v %v", v.Role, u.Email, u.Role, u.Status,
					p.Actions[i], p.Assignable[i], portal.Can(v, u), portal.AssignableRoles(v, u))
			}
		}
	}
}
