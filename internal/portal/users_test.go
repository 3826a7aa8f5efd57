package portal_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// changeRole, walked as a reviewer would: the target check, the same
// role, the role the viewer may give, the audit entry.
func TestChangeRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	adm, adminUser := e.member(sa, "adam@example.com", access.Admin)
	_, cid := e.member(sa, "cora@example.com", access.Creator)
	_, zed := e.org("Other", "zed@example.com")

	cases := []struct {
		name   string
		as     string
		target string
		role   access.Role
		want   portal.Kind
	}{
		{"admin demotes a creator", adm, cid.ID, access.Viewer, ""},
		{"admin may not give ADMIN", adm, cid.ID, access.Admin, portal.KindForbidden},
		{"admin may not touch an admin", adm, adminUser.ID, access.Viewer, portal.KindForbidden},
		{"nobody changes themself", sa, ann.ID, access.Admin, portal.KindForbidden},
		{"same role", sa, cid.ID, access.Viewer, portal.KindInvalid},
		{"unknown role", sa, cid.ID, "OWNER", portal.KindInvalid},
		{"nobody gives SUPER_ADMIN", sa, cid.ID, access.SuperAdmin, portal.KindForbidden},
		{"another organisation's user", sa, zed.ID, access.Viewer, portal.KindNotFound},
		{"no such id", sa, "not-an-id", access.Viewer, portal.KindNotFound},
		{"super admin promotes to admin", sa, cid.ID, access.Admin, ""},
	}
	for _, c := range cases {
		var before access.Role
		if c.want != portal.KindNotFound {
			before = e.user(c.target).Role
		}
		u, err := e.svc.ChangeRole(e.as(c.as), c.target, c.role)
		if c.want == "" {
			if err != nil || u.Role != c.role || e.user(c.target).Role != c.role {
				t.Fatalf("%s: %+v, %v", c.name, u, err)
			}
			continue
		}
		wantKind(t, c.name, err, c.want)
		if c.want != portal.KindNotFound && e.user(c.target).Role != before {
			t.Fatalf("%s: the role changed", c.name)
		}
	}
	var de *portal.Error
	_, err := e.svc.ChangeRole(e.as(adm), cid.ID, access.SuperAdmin)
	if !errors.As(err, &de) || de.Message != "your role does not allow this" {
		t.Fatalf("admin acting on an admin: %v", err) // cora is an admin now: the target check comes first
	}
	_, err = e.svc.ChangeRole(bg(), cid.ID, "OWNER")
	wantKind(t, "unknown role without a session", err, portal.KindUnauthenticated)

	entries, err := e.db.ListAudit(bg(), ann.OrgID, portal.AuditQuery{Limit: 1})
	if err != nil || len(entries) != 1 {
		t.Fatal(entries, err)
	}
	if a := entries[0]; a.Action != portal.AuditRoleChanged || *a.ActorID != ann.ID || *a.TargetID != cid.ID ||
		*a.BeforeRole != access.Viewer || *a.AfterRole != access.Admin {
		t.Fatalf("audit entry %+v", a)
	}
	// The list sorts by the new role at once.
	p, err := e.svc.Users(e.as(sa), nil, nil, portal.UserFilter{Roles: []access.Role{access.Admin}}, portal.UserOrder{Field: portal.OrderRole})
	if err != nil || len(p.Users) != 2 {
		t.Fatalf("admins: %+v, %v", p, err)
	}
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	creator, _ := e.member(sa, "cora@example.com", access.Creator)
	u, err := e.svc.CreateUser(e.as(sa), " Bob@Example.com ", "  Bob  ", access.Admin)
	if err != nil || u.Email != "bob@example.com" || u.Name != "Bob" || u.Status != portal.StatusInvited ||
		*u.InvitedByID != ann.ID || u.InvitationSentAt == nil {
		t.Fatalf("CreateUser = %+v, %v", u, err)
	}
	if tok := e.link("bob@example.com", "accept-invitation"); tok == "" {
		t.Fatal("no invitation")
	}
	for _, c := range []struct {
		name, email, uname string
		role               access.Role
		as                 string
		want               portal.Kind
		field              string
	}{
		{"taken email", "BOB@example.com", "Bob", access.Viewer, sa, portal.KindConflict, "email"},
		{"bad email", "bob", "Bob", access.Viewer, sa, portal.KindInvalid, "email"},
		{"empty name", "x@example.com", " ", access.Viewer, sa, portal.KindInvalid, "name"},
		{"control in name", "x@example.com", "B\x07b", access.Viewer, sa, portal.KindInvalid, "name"},
		{"long name", "x@example.com", strings.Repeat("n", portal.MaxNameLen+1), access.Viewer, sa, portal.KindInvalid, "name"},
		{"unknown role", "x@example.com", "X", "OWNER", sa, portal.KindInvalid, "role"},
		{"super admin", "x@example.com", "X", access.SuperAdmin, sa, portal.KindForbidden, ""},
		{"creator may not create", "x@example.com", "X", access.Viewer, creator, portal.KindForbidden, ""},
	} {
		_, err := e.svc.CreateUser(e.as(c.as), c.email, c.uname, c.role)
		wantKind(t, c.name, err, c.want)
		if de := (*portal.Error)(nil); errors.As(err, &de) && de.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, de.Field, c.field)
		}
	}
	_, err = e.svc.CreateUser(bg(), "x@example.com", "X", access.Viewer)
	wantKind(t, "without a session", err, portal.KindUnauthenticated)
}

// resendInvitation and sendPasswordReset: the status each needs, a new
// link that kills the earlier one.
func TestMailLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	bob, err := e.svc.CreateUser(e.as(sa), "bob@example.com", "Bob", access.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	old := e.link("bob@example.com", "accept-invitation")
	_, err = e.svc.SendPasswordReset(e.as(sa), bob.ID)
	wantKind(t, "reset for an invited user", err, portal.KindInvalid)
	e.clock.Advance(time.Minute)
	if _, err := e.svc.ResendInvitation(e.as(sa), bob.ID); err != nil {
		t.Fatal(err)
	}
	fresh := e.link("bob@example.com", "accept-invitation")
	if _, err := e.svc.AcceptInvitation(bg(), old, password); !errors.Is(err, portal.ErrBadToken) {
		t.Fatalf("earlier invitation: %v", err)
	}
	if _, err := e.svc.AcceptInvitation(bg(), fresh, "short"); portal.KindOf(err) != portal.KindInvalid {
		t.Fatalf("short password: %v", err)
	}
	if _, err := e.svc.AcceptInvitation(bg(), fresh, "bob@example.com"+"   "); portal.KindOf(err) != portal.KindInvalid {
		t.Fatalf("the email as password: %v", err)
	}
	u, err := e.svc.AcceptInvitation(bg(), fresh, password)
	if err != nil || u.Status != portal.StatusActive {
		t.Fatalf("AcceptInvitation = %+v, %v", u, err)
	}
	if _, err := e.svc.AcceptInvitation(bg(), fresh, password); !errors.Is(err, portal.ErrBadToken) {
		t.Fatalf("used twice: %v", err)
	}
	_, err = e.svc.ResendInvitation(e.as(sa), bob.ID)
	wantKind(t, "invitation for an active user", err, portal.KindInvalid)
	if _, err := e.svc.SendPasswordReset(e.as(sa), bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(bg(), e.link("bob@example.com", "reset-password"), "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(bg(), "bob@example.com", "another long password"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	wantKind(t, "bad reset token", e.svc.ResetPassword(bg(), "nope", "another long password"), portal.KindInvalid)
	want := []portal.AuditAction{portal.AuditPasswordReset, portal.AuditPasswordResetSent, portal.AuditInvitationAccepted, portal.AuditInvitationResent, portal.AuditUserCreated}
	if got := e.audit(ann.OrgID)[:5]; !slices.Equal(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}

	// Forgot password: the same answer for unknown and invited emails; only
	// an active user gets a link.
	for _, email := range []string{"nobody@example.com", "bob@example.com", "not an email"} {
		err := e.svc.RequestPasswordReset(bg(), email)
		if email == "not an email" {
			wantKind(t, "malformed email", err, portal.KindInvalid)
		} else if err != nil {
			t.Fatalf("RequestPasswordReset(%s): %v", email, err)
		}
	}
	if e.link("bob@example.com", "reset-password") == "" {
		t.Fatal("no self-service reset link")
	}
}

// resetTwoFactor and removeUser end the target's sessions at once.
func TestResetTwoFactorAndRemove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	bobToken, bob := e.member(sa, "bob@example.com", access.Viewer)
	invited, err := e.svc.CreateUser(e.as(sa), "ivy@example.com", "Ivy", access.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ResetTwoFactor(e.as(sa), invited.ID)
	wantKind(t, "2FA reset without 2FA", err, portal.KindInvalid)
	if _, err := e.svc.ResetTwoFactor(e.as(sa), bob.ID); err != nil {
		t.Fatal(err)
	}
	e.dead(bobToken)
	if u := e.user(bob.ID); u.TwoFactorEnabled || u.TOTPSecret != nil || u.SessionsNotBefore == nil {
		t.Fatalf("after the 2FA reset: %+v", u)
	}
	if res := e.startLogin("bob@example.com"); res.Step != portal.StepEnrollmentRequired {
		t.Fatalf("login after the 2FA reset: %+v", res)
	}
	bobToken = e.signIn("bob@example.com")

	id, err := e.svc.RemoveUser(e.as(sa), bob.ID)
	if err != nil || id != bob.ID {
		t.Fatal(id, err)
	}
	e.dead(bobToken)
	_, err = e.svc.User(e.as(sa), bob.ID)
	wantKind(t, "removed user", err, portal.KindNotFound)
	_, err = e.svc.RemoveUser(e.as(sa), ann.ID)
	wantKind(t, "remove oneself", err, portal.KindForbidden)
	// The email is free again.
	if _, err := e.svc.CreateUser(e.as(sa), "bob@example.com", "Bob again", access.Viewer); err != nil {
		t.Fatal(err)
	}
	if acts := e.audit(ann.OrgID); !slices.Contains(acts, portal.AuditUserRemoved) || !slices.Contains(acts, portal.AuditTwoFactorReset) {
		t.Fatalf("audit %v", acts)
	}
}

// users: paging with cursors bound to their order, filters, totalCount.
func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, _ := e.org("Acme", "ann@example.com")
	for _, n := range []string{"dora", "Cleo", "bea", "Al"} {
		if _, err := e.svc.CreateUser(e.as(sa), n+"@example.com", n, access.Viewer); err != nil {
			t.Fatal(err)
		}
	}
	ctx := e.as(sa)
	two := 2
	var names []string
	var after *string
	for {
		p, err := e.svc.Users(ctx, &two, after, portal.UserFilter{}, portal.UserOrder{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Users {
			names = append(names, u.Name)
		}
		if p.HasPrevious != (after != nil) || len(p.Cursors) != len(p.Users) {
			t.Fatalf("page %+v", p)
		}
		if !p.HasNext {
			break
		}
		after = &p.Cursors[len(p.Cursors)-1]
	}
	if want := []string{"Al", "bea", "Cleo", "dora", "Super Acme"}; !slices.Equal(names, want) {
		t.Fatalf("by name: %v, want %v", names, want)
	}
	invited := portal.StatusInvited
	p, err := e.svc.Users(ctx, nil, nil, portal.UserFilter{Search: "CLE", Status: &invited}, portal.UserOrder{Field: portal.OrderEmail, Desc: true})
	if err != nil || len(p.Users) != 1 || p.Users[0].Name != "Cleo" {
		t.Fatalf("search: %+v, %v", p, err)
	}
	if n, err := e.svc.TotalCount(ctx, p); err != nil || n != 1 {
		t.Fatalf("TotalCount = %d, %v", n, err)
	}
	// A cursor belongs to its order; bad input is BAD_USER_INPUT.
	byName, _ := e.svc.Users(ctx, &two, nil, portal.UserFilter{}, portal.UserOrder{})
	zero, big := 0, portal.MaxPageSize+1
	bad := []func() error{
		func() error {
			_, err := e.svc.Users(ctx, nil, &byName.Cursors[0], portal.UserFilter{}, portal.UserOrder{Field: portal.OrderCreated})
			return err
		},
		func() error {
			_, err := e.svc.Users(ctx, nil, &byName.Cursors[0], portal.UserFilter{}, portal.UserOrder{Desc: true})
			return err
		},
		func() error {
			s := "garbage"
			_, err := e.svc.Users(ctx, nil, &s, portal.UserFilter{}, portal.UserOrder{})
			return err
		},
		func() error {
			_, err := e.svc.Users(ctx, &zero, nil, portal.UserFilter{}, portal.UserOrder{})
			return err
		},
		func() error {
			_, err := e.svc.Users(ctx, &big, nil, portal.UserFilter{}, portal.UserOrder{})
			return err
		},
		func() error {
			_, err := e.svc.Users(ctx, nil, nil, portal.UserFilter{Search: strings.Repeat("a", 255)}, portal.UserOrder{})
			return err
		},
		func() error {
			_, err := e.svc.Users(ctx, nil, nil, portal.UserFilter{Search: "a\x00"}, portal.UserOrder{})
			return err
		},
		func() error {
			_, err := e.svc.Users(ctx, nil, nil, portal.UserFilter{Roles: []access.Role{"OWNER"}}, portal.UserOrder{})
			return err
		},
	}
	for i, f := range bad {
		wantKind(t, "bad list input "+string(rune('0'+i)), f(), portal.KindInvalid)
	}
	_, err = e.svc.Users(bg(), nil, nil, portal.UserFilter{}, portal.UserOrder{})
	wantKind(t, "without a session", err, portal.KindUnauthenticated)
}

// invitationDeliveryFailed: true only for a user whose latest invitation
// email failed for good, and only for the viewer's organisation.
func TestInvitationDeliveryFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	ctx := e.as(sa)
	ok, err := e.svc.CreateUser(ctx, "ok@example.com", "Ok", access.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	e.link("ok@example.com", "accept-invitation") // delivered
	e.mail.refuse = true
	bounced, err := e.svc.CreateUser(ctx, "bounce@example.com", "Bounce", access.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.worker.Tick(bg()); err != nil { // one attempt, then failed (MaxAttempts 1)
		t.Fatal(err)
	}
	pending, err := e.svc.CreateUser(ctx, "later@example.com", "Later", access.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	zedToken, zed := e.org2("Other", "zed@example.com")
	users := []*portal.User{ok, bounced, pending, ann, zed}
	got, err := e.svc.InvitationDeliveryFailed(ctx, users)
	if want := []bool{false, true, false, false, false}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("InvitationDeliveryFailed = %v, %v; want %v", got, err, want)
	}
	// Another organisation sees nothing of Acme's deliveries.
	if got, err := e.svc.InvitationDeliveryFailed(e.as(zedToken), users); err != nil || slices.Contains(got, true) {
		t.Fatalf("from another organisation: %v, %v", got, err)
	}
	// A new invitation that goes out clears it.
	e.mail.refuse = false
	if _, err := e.svc.ResendInvitation(ctx, bounced.ID); err != nil {
		t.Fatal(err)
	}
	e.link("bounce@example.com", "accept-invitation")
	if got, err := e.svc.InvitationDeliveryFailed(ctx, []*portal.User{bounced}); err != nil || got[0] {
		t.Fatalf("after a resent invitation went out: %v, %v", got, err)
	}
	_, err = e.svc.InvitationDeliveryFailed(bg(), users)
	wantKind(t, "without a session", err, portal.KindUnauthenticated)
}

// org2 is org for a second organisation while the first one's mail is
// refused: its invitation link comes from the command, not the outbox.
func (e *env) org2(name, email string) (string, *portal.User) {
	refuse := e.mail.refuse
	e.mail.refuse = false
	defer func() { e.mail.refuse = refuse }()
	return e.org(name, email)
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	viewer, _ := e.member(sa, "val@example.com", access.Viewer)
	_, err := e.svc.AuditLog(e.as(viewer), nil, nil)
	wantKind(t, "viewer reads the audit log", err, portal.KindForbidden)
	one := 1
	var got []portal.AuditAction
	var after *string
	for {
		p, err := e.svc.AuditLog(e.as(sa), &one, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Entries {
			got = append(got, a.Action)
			if a.OrgID != ann.OrgID {
				t.Fatalf("entry of org %s", a.OrgID)
			}
		}
		if !p.HasNext {
			break
		}
		c := portal.AuditCursor(p.Entries[0])
		after = &c
	}
	if want := e.audit(ann.OrgID); !slices.Equal(got, want) || got[len(got)-1] != portal.AuditOrganizationCreated {
		t.Fatalf("paged audit %v, want %v", got, want)
	}
	bad := "bm9wZQ"
	_, err = e.svc.AuditLog(e.as(sa), nil, &bad)
	wantKind(t, "bad audit cursor", err, portal.KindInvalid)
}

// What a viewer may see and do: roles, a user, related users, the
// actions offered on each user.
func TestReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	adm, adam := e.member(sa, "adam@example.com", access.Admin)
	_, cora := e.member(sa, "cora@example.com", access.Creator)
	_, zed := e.org("Other", "zed@example.com")

	roles, err := e.svc.Roles(e.as(adm))
	if err != nil || len(roles) != len(access.Roles) || roles[0].Role != access.SuperAdmin {
		t.Fatalf("Roles = %v, %v", roles, err)
	}
	if u, err := e.svc.User(e.as(adm), cora.ID); err != nil || u.Email != "cora@example.com" {
		t.Fatalf("User = %+v, %v", u, err)
	}
	_, err = e.svc.User(e.as(adm), zed.ID)
	wantKind(t, "another organisation's user", err, portal.KindNotFound)

	related, err := e.svc.RelatedUsers(bg(), ann.OrgID, []string{cora.ID, zed.ID, "x", ann.ID})
	if err != nil || related[0].ID != cora.ID || related[1] != nil || related[2] != nil || related[3].ID != ann.ID {
		t.Fatalf("RelatedUsers = %v, %v", related, err)
	}

	v, err := e.svc.Authenticate(bg(), adm)
	if err != nil {
		t.Fatal(err)
	}
	cora = e.user(cora.ID)
	if a := portal.Can(v, cora); !a.ChangeRole || a.ResendInvitation || !a.SendPasswordReset || !a.ResetTwoFactor || !a.Remove {
		t.Fatalf("admin on an active creator: %+v", a)
	}
	if a := portal.Can(v, e.user(ann.ID)); a != (portal.Actions{}) {
		t.Fatalf("admin on the super admin: %+v", a)
	}
	if a := portal.Can(v, zed); a != (portal.Actions{}) {
		t.Fatalf("admin on another organisation: %+v", a)
	}
	if r := portal.AssignableRoles(v, cora); !slices.Equal(r, []access.Role{access.Viewer, access.EcommerceViewer}) {
		t.Fatalf("AssignableRoles = %v", r)
	}
	if r := portal.AssignableRoles(v, adam); len(r) != 0 {
		t.Fatalf("AssignableRoles on oneself = %v", r)
	}
	if r := portal.AssignableRoles(nil, cora); r == nil || len(r) != 0 {
		t.Fatalf("AssignableRoles without a viewer = %v", r)
	}
	_, err = e.svc.Roles(bg())
	wantKind(t, "roles without a session", err, portal.KindUnauthenticated)
}

// The operator's command refuses bad input before writing anything.
func TestCreateOrganizationInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range [][3]string{{"", "a@example.com", "A"}, {"Acme", "nope", "A"}, {"Acme", "a@example.com", ""}} {
		_, _, _, err := e.svc.CreateOrganization(bg(), c[0], c[1], c[2])
		wantKind(t, "CreateOrganization", err, portal.KindInvalid)
	}
	e.org("Acme", "a@example.com")
	_, _, _, err := e.svc.CreateOrganization(bg(), "Again", "A@example.com", "A")
	wantKind(t, "taken email", err, portal.KindConflict)
}
