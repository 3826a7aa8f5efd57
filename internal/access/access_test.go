package access

// These tests check the role policy against DESIGN.md section 1 ("Roles")
// and seeds/001 ("Changing an existing user's role"). Every expectation
// below is written out literally, in the layout of the design's tables, so
// that a reader can hold this file next to DESIGN.md and compare cell by
// cell. None of the expected values is computed from ranks: the tables are
// the specification, the code under test is access.go.

import (
	"reflect"
	"testing"
)

const (
	yes = true
	no  = false
	// dup marks "change a user to the role they already have". DESIGN.md
	// section 1 makes that BAD_USER_INPUT, not FORBIDDEN, so the policy
	// (CanChangeRole) allows it and the service rejects it as input; and
	// AssignableTo never offers it.
	dup = true
)

// five is the five real roles, in DESIGN.md's order (highest rank first):
// the column order of every grid below. Written out here, not taken from
// Roles.
var five = [5]Role{SuperAdmin, Admin, Creator, Viewer, EcommerceViewer}

// unknown roles: not one of the five. Rank 0, no permissions, can do nothing,
// nothing can be done to them, nobody can give them.
var unknown = []Role{"", "ROOT", "super_admin", "Admin"}

// allRoles is the five real roles followed by the unknown ones.
func allRoles() []Role { return append(five[:], unknown...) }

func subj(id string, r Role) Subject { return Subject{ID: id, Role: r} }

// ---------------------------------------------------------------------------
// Names, lists and ranks
// ---------------------------------------------------------------------------

func TestRoleValues(t *testing.T) {
	// The string values are the GraphQL enum values and the stored values.
	want := map[Role]string{
		SuperAdmin:      "SUPER_ADMIN",
		Admin:           "ADMIN",
		Creator:         "CREATOR",
		Viewer:          "VIEWER",
		EcommerceViewer: "ECOMMERCE_VIEWER",
	}
	for r, s := range want {
		if string(r) != s {
			t.Errorf("role constant %q, want %q", string(r), s)
		}
	}
	if got, w := Roles, []Role{"SUPER_ADMIN", "ADMIN", "CREATOR", "VIEWER", "ECOMMERCE_VIEWER"}; !reflect.DeepEqual(got, w) {
		t.Errorf("Roles = %v, want %v (highest rank first)", got, w)
	}
}

func TestPermissionValues(t *testing.T) {
	want := []Permission{
		"VIEW_USERS",
		"VIEW_ROLES",
		"CREATE_USERS",
		"CHANGE_ROLES",
		"RESEND_INVITATIONS",
		"SEND_PASSWORD_RESETS",
		"RESET_TWO_FACTOR",
		"REMOVE_USERS",
	}
	if !reflect.DeepEqual(Permissions, want) {
		t.Errorf("Permissions = %v, want %v (DESIGN.md table order)", Permissions, want)
	}
	consts := []Permission{ViewUsers, ViewRoles, CreateUsers, ChangeRoles,
		ResendInvitations, SendPasswordResets, ResetTwoFactor, RemoveUsers}
	if !reflect.DeepEqual(consts, want) {
		t.Errorf("permission constants = %v, want %v", consts, want)
	}
}

func TestActionPermission(t *testing.T) {
	want := []struct {
		a Action
		s string
		p Permission
	}{
		{ActChangeRole, "CHANGE_ROLE", "CHANGE_ROLES"},
		{ActResendInvitation, "RESEND_INVITATION", "RESEND_INVITATIONS"},
		{ActSendPasswordReset, "SEND_PASSWORD_RESET", "SEND_PASSWORD_RESETS"},
		{ActResetTwoFactor, "RESET_TWO_FACTOR", "RESET_TWO_FACTOR"},
		{ActRemove, "REMOVE_USER", "REMOVE_USERS"},
	}
	var list []Action
	for _, w := range want {
		list = append(list, w.a)
		if string(w.a) != w.s {
			t.Errorf("action constant %q, want %q", string(w.a), w.s)
		}
		if got := w.a.Permission(); got != w.p {
			t.Errorf("%s.Permission() = %q, want %q", w.a, got, w.p)
		}
	}
	if !reflect.DeepEqual(Actions, list) {
		t.Errorf("Actions = %v, want %v", Actions, list)
	}
	for _, a := range []Action{"", "DELETE_ORGANIZATION", "change_role"} {
		if got := a.Permission(); got != "" {
			t.Errorf("unknown action %q needs permission %q, want none", a, got)
		}
	}
}

func TestRank(t *testing.T) {
	want := []struct {
		r     Role
		rank  int
		valid bool
	}{
		{SuperAdmin, 4, yes},
		{Admin, 3, yes},
		{Creator, 2, yes},
		{Viewer, 1, yes},
		{EcommerceViewer, 1, yes},
		{"", 0, no},
		{"ROOT", 0, no},
		{"super_admin", 0, no},
		{"Admin", 0, no},
	}
	for _, w := range want {
		if got := w.r.Rank(); got != w.rank {
			t.Errorf("Role(%q).Rank() = %d, want %d", w.r, got, w.rank)
		}
		if got := w.r.Valid(); got != w.valid {
			t.Errorf("Role(%q).Valid() = %v, want %v", w.r, got, w.valid)
		}
	}
}

func TestLower(t *testing.T) {
	// Lower(row, column). Equal ranks give the first argument.
	// columns: SUPER_ADMIN, ADMIN, CREATOR, VIEWER, ECOMMERCE_VIEWER
	grid := map[Role][5]Role{
		SuperAdmin:      {SuperAdmin, Admin, Creator, Viewer, EcommerceViewer},
		Admin:           {Admin, Admin, Creator, Viewer, EcommerceViewer},
		Creator:         {Creator, Creator, Creator, Viewer, EcommerceViewer},
		Viewer:          {Viewer, Viewer, Viewer, Viewer, Viewer},
		EcommerceViewer: {EcommerceViewer, EcommerceViewer, EcommerceViewer, EcommerceViewer, EcommerceViewer},
	}
	for _, a := range five {
		for j, b := range five {
			if got, w := Lower(a, b), grid[a][j]; got != w {
				t.Errorf("Lower(%s, %s) = %s, want %s", a, b, got, w)
			}
		}
	}
	// An unknown role is below every real role: under the immediate mode a
	// session whose user has an unknown role can do nothing.
	for _, r := range five {
		if got := Lower(r, "ROOT"); got != "ROOT" {
			t.Errorf("Lower(%s, ROOT) = %q, want ROOT", r, got)
		}
		if got := Lower("", r); got != "" {
			t.Errorf(`Lower("", %s) = %q, want ""`, r, got)
		}
	}
}

// ---------------------------------------------------------------------------
// Permission table
// ---------------------------------------------------------------------------

func TestPermissionTable(t *testing.T) {
	// DESIGN.md section 1, copied row for row.
	// columns: SUPER_ADMIN, ADMIN, CREATOR, VIEWER, ECOMMERCE_VIEWER
	table := map[Permission][5]bool{
		ViewUsers:          {yes, yes, yes, yes, yes},
		ViewRoles:          {yes, yes, yes, yes, yes},
		CreateUsers:        {yes, yes, no, no, no},
		ChangeRoles:        {yes, yes, no, no, no},
		ResendInvitations:  {yes, yes, no, no, no},
		SendPasswordResets: {yes, yes, no, no, no},
		ResetTwoFactor:     {yes, yes, no, no, no},
		RemoveUsers:        {yes, yes, no, no, no},
	}
	if len(table) != len(Permissions) {
		t.Fatalf("table has %d permissions, package has %d", len(table), len(Permissions))
	}
	for _, p := range Permissions { // checked literally in TestPermissionValues
		cells, ok := table[p]
		if !ok {
			t.Fatalf("permission %s is not in the table", p)
		}
		for j, r := range five {
			if got := r.Has(p); got != cells[j] {
				t.Errorf("%s.Has(%s) = %v, want %v", r, p, got, cells[j])
			}
		}
	}
	for _, r := range allRoles() {
		for _, p := range []Permission{"", "ROOT", "view_users", "DELETE_ORGANIZATION"} {
			if r.Has(p) {
				t.Errorf("%q.Has(unknown permission %q) = true", r, p)
			}
		}
	}
	for _, r := range unknown {
		for p := range table {
			if r.Has(p) {
				t.Errorf("unknown role %q.Has(%s) = true", r, p)
			}
		}
	}
}

func TestPermissionsOf(t *testing.T) {
	all := []Permission{"VIEW_USERS", "VIEW_ROLES", "CREATE_USERS", "CHANGE_ROLES",
		"RESEND_INVITATIONS", "SEND_PASSWORD_RESETS", "RESET_TWO_FACTOR", "REMOVE_USERS"}
	view := []Permission{"VIEW_USERS", "VIEW_ROLES"}
	want := map[Role][]Permission{
		SuperAdmin:      all,
		Admin:           all,
		Creator:         view,
		Viewer:          view,
		EcommerceViewer: view,
	}
	for _, r := range five {
		if got := PermissionsOf(r); !reflect.DeepEqual(got, want[r]) {
			t.Errorf("PermissionsOf(%s) = %v, want %v", r, got, want[r])
		}
	}
	for _, r := range unknown {
		if got := PermissionsOf(r); len(got) != 0 {
			t.Errorf("PermissionsOf(%q) = %v, want none", r, got)
		}
	}
}

// ---------------------------------------------------------------------------
// Hierarchy rule: CanAct
// ---------------------------------------------------------------------------

// canActGrid is the expected CanAct(actor, target, action) for every actor
// role (row) x target role (column) x action, actor and target being two
// different users. The five grids are equal because every action aimed at
// another user follows the same rule; they are written out separately so
// that each action is checked on its own.
//
//	columns: target SUPER_ADMIN, ADMIN, CREATOR, VIEWER, ECOMMERCE_VIEWER
var canActGrid = map[Action]map[Role][5]bool{
	ActChangeRole: {
		SuperAdmin:      {no, yes, yes, yes, yes},
		Admin:           {no, no, yes, yes, yes},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
	ActResendInvitation: {
		SuperAdmin:      {no, yes, yes, yes, yes},
		Admin:           {no, no, yes, yes, yes},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
	ActSendPasswordReset: {
		SuperAdmin:      {no, yes, yes, yes, yes},
		Admin:           {no, no, yes, yes, yes},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
	ActResetTwoFactor: {
		SuperAdmin:      {no, yes, yes, yes, yes},
		Admin:           {no, no, yes, yes, yes},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
	ActRemove: {
		SuperAdmin:      {no, yes, yes, yes, yes},
		Admin:           {no, no, yes, yes, yes},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
}

func TestCanActGrid(t *testing.T) {
	if len(canActGrid) != len(Actions) {
		t.Fatalf("grid covers %d actions, package has %d", len(canActGrid), len(Actions))
	}
	n := 0
	for _, a := range Actions {
		grid, ok := canActGrid[a]
		if !ok {
			t.Fatalf("action %s has no expected grid", a)
		}
		for _, ar := range five {
			for j, tr := range five {
				n++
				want := grid[ar][j]
				if got := CanAct(subj("actor", ar), subj("target", tr), a); got != want {
					t.Errorf("CanAct(%s -> other %s, %s) = %v, want %v", ar, tr, a, got, want)
				}
			}
		}
	}
	if n != 125 {
		t.Errorf("checked %d cells, want 125", n)
	}
}

func TestCanActOnSelfAlwaysDenied(t *testing.T) {
	// Same ID: nobody acts on themselves through these actions, whatever
	// the roles on the two Subjects say.
	for _, a := range Actions {
		for _, ar := range allRoles() {
			for _, tr := range allRoles() {
				if CanAct(subj("u1", ar), subj("u1", tr), a) {
					t.Errorf("CanAct(u1 as %q -> u1 as %q, %s) = true, want false", ar, tr, a)
				}
			}
		}
	}
	// Including the degenerate empty ID.
	if CanAct(subj("", SuperAdmin), subj("", Viewer), ActRemove) {
		t.Error("CanAct with two empty IDs = true, want false")
	}
}

func TestCanActUnknownRolesAndActions(t *testing.T) {
	for _, a := range Actions {
		for _, r := range five {
			for _, u := range unknown {
				if CanAct(subj("actor", u), subj("target", r), a) {
					t.Errorf("unknown actor %q can %s a %s", u, a, r)
				}
				if CanAct(subj("actor", r), subj("target", u), a) {
					t.Errorf("%s can %s a target with unknown role %q", r, a, u)
				}
			}
		}
	}
	for _, a := range []Action{"", "DELETE_ORGANIZATION", "remove_user"} {
		for _, ar := range five {
			for _, tr := range five {
				if CanAct(subj("actor", ar), subj("target", tr), a) {
					t.Errorf("CanAct(%s -> %s, unknown action %q) = true", ar, tr, a)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// CHANGE_ROLE: CanChangeRole and AssignableTo
// ---------------------------------------------------------------------------

// changeRoleGrid is the expected CanChangeRole(actor, target, newRole), for
// two different users: one grid per actor role; rows are the target's
// current role, columns the new role. dup (= yes) marks the new role being
// the current one: allowed by the policy, refused by the service as
// BAD_USER_INPUT.
//
//	columns: new role SUPER_ADMIN, ADMIN, CREATOR, VIEWER, ECOMMERCE_VIEWER
var changeRoleGrid = map[Role]map[Role][5]bool{
	SuperAdmin: {
		SuperAdmin:      {no, no, no, no, no},
		Admin:           {no, dup, yes, yes, yes},
		Creator:         {no, yes, dup, yes, yes},
		Viewer:          {no, yes, yes, dup, yes},
		EcommerceViewer: {no, yes, yes, yes, dup},
	},
	Admin: {
		SuperAdmin:      {no, no, no, no, no},
		Admin:           {no, no, no, no, no},
		Creator:         {no, no, dup, yes, yes},
		Viewer:          {no, no, yes, dup, yes},
		EcommerceViewer: {no, no, yes, yes, dup},
	},
	Creator: {
		SuperAdmin:      {no, no, no, no, no},
		Admin:           {no, no, no, no, no},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
	Viewer: {
		SuperAdmin:      {no, no, no, no, no},
		Admin:           {no, no, no, no, no},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
	EcommerceViewer: {
		SuperAdmin:      {no, no, no, no, no},
		Admin:           {no, no, no, no, no},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	},
}

func TestCanChangeRoleGrid(t *testing.T) {
	n := 0
	for _, ar := range five {
		for _, tr := range five {
			for k, nr := range five {
				n++
				want := changeRoleGrid[ar][tr][k]
				if got := CanChangeRole(subj("actor", ar), subj("target", tr), nr); got != want {
					t.Errorf("CanChangeRole(%s -> other %s, to %s) = %v, want %v", ar, tr, nr, got, want)
				}
			}
			// Never to an unknown role.
			for _, u := range unknown {
				if CanChangeRole(subj("actor", ar), subj("target", tr), u) {
					t.Errorf("CanChangeRole(%s -> %s, to unknown %q) = true", ar, tr, u)
				}
			}
		}
	}
	if n != 125 {
		t.Errorf("checked %d cells, want 125", n)
	}
	// Unknown actor or target: never.
	for _, u := range unknown {
		for _, r := range five {
			for _, nr := range five {
				if CanChangeRole(subj("actor", u), subj("target", r), nr) {
					t.Errorf("unknown actor %q changes %s to %s", u, r, nr)
				}
				if CanChangeRole(subj("actor", r), subj("target", u), nr) {
					t.Errorf("%s changes unknown-role target %q to %s", r, u, nr)
				}
			}
		}
	}
	// Self: never, whatever the new role.
	for _, r := range allRoles() {
		for _, nr := range allRoles() {
			if CanChangeRole(subj("me", r), subj("me", r), nr) {
				t.Errorf("%q changes their own role to %q", r, nr)
			}
		}
	}
}

func TestAssignableTo(t *testing.T) {
	// The drop-down of seeds/001: what the actor may change the (other)
	// target to. Never the target's current role; empty (not nil) when the
	// actor may not change the target at all. In rank order.
	C, V, EV, A := Creator, Viewer, EcommerceViewer, Admin
	want := []struct {
		actor, target Role
		roles         []Role
	}{
		{SuperAdmin, SuperAdmin, []Role{}},
		{SuperAdmin, Admin, []Role{C, V, EV}},
		{SuperAdmin, Creator, []Role{A, V, EV}},
		{SuperAdmin, Viewer, []Role{A, C, EV}},
		{SuperAdmin, EcommerceViewer, []Role{A, C, V}},

		{Admin, SuperAdmin, []Role{}},
		{Admin, Admin, []Role{}},
		{Admin, Creator, []Role{V, EV}},
		{Admin, Viewer, []Role{C, EV}},
		{Admin, EcommerceViewer, []Role{C, V}},

		{Creator, SuperAdmin, []Role{}},
		{Creator, Admin, []Role{}},
		{Creator, Creator, []Role{}},
		{Creator, Viewer, []Role{}},
		{Creator, EcommerceViewer, []Role{}},

		{Viewer, SuperAdmin, []Role{}},
		{Viewer, Admin, []Role{}},
		{Viewer, Creator, []Role{}},
		{Viewer, Viewer, []Role{}},
		{Viewer, EcommerceViewer, []Role{}},

		{EcommerceViewer, SuperAdmin, []Role{}},
		{EcommerceViewer, Admin, []Role{}},
		{EcommerceViewer, Creator, []Role{}},
		{EcommerceViewer, Viewer, []Role{}},
		{EcommerceViewer, EcommerceViewer, []Role{}},
	}
	if len(want) != 25 {
		t.Fatalf("table has %d rows, want 25", len(want))
	}
	for _, w := range want {
		got := AssignableTo(subj("actor", w.actor), subj("target", w.target))
		if got == nil {
			t.Errorf("AssignableTo(%s -> %s) = nil, want non-nil", w.actor, w.target)
		}
		if !reflect.DeepEqual(got, w.roles) {
			t.Errorf("AssignableTo(%s -> %s) = %v, want %v", w.actor, w.target, got, w.roles)
		}
		// Consistency with CanChangeRole: every offered role is allowed.
		for _, r := range got {
			if !CanChangeRole(subj("actor", w.actor), subj("target", w.target), r) {
				t.Errorf("AssignableTo(%s -> %s) offers %s but CanChangeRole refuses it", w.actor, w.target, r)
			}
		}
	}
	// On oneself and with unknown roles: empty, non-nil.
	for _, r := range allRoles() {
		if got := AssignableTo(subj("me", r), subj("me", Viewer)); got == nil || len(got) != 0 {
			t.Errorf("AssignableTo(self as %q) = %#v, want empty non-nil", r, got)
		}
	}
	for _, u := range unknown {
		for _, r := range five {
			if got := AssignableTo(subj("actor", u), subj("target", r)); got == nil || len(got) != 0 {
				t.Errorf("AssignableTo(unknown %q -> %s) = %#v, want empty non-nil", u, r, got)
			}
			if got := AssignableTo(subj("actor", r), subj("target", u)); got == nil || len(got) != 0 {
				t.Errorf("AssignableTo(%s -> unknown %q) = %#v, want empty non-nil", r, u, got)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Creating users and the roles an actor can give
// ---------------------------------------------------------------------------

func TestCanCreateGrid(t *testing.T) {
	// rows: actor; columns: role of the new user,
	// SUPER_ADMIN, ADMIN, CREATOR, VIEWER, ECOMMERCE_VIEWER
	grid := map[Role][5]bool{
		SuperAdmin:      {no, yes, yes, yes, yes},
		Admin:           {no, no, yes, yes, yes},
		Creator:         {no, no, no, no, no},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	}
	for _, ar := range five {
		for k, nr := range five {
			if got, want := CanCreate(ar, nr), grid[ar][k]; got != want {
				t.Errorf("CanCreate(%s, %s) = %v, want %v", ar, nr, got, want)
			}
		}
	}
	for _, u := range unknown {
		for _, r := range five {
			if CanCreate(u, r) {
				t.Errorf("CanCreate(unknown %q, %s) = true", u, r)
			}
			if CanCreate(r, u) {
				t.Errorf("CanCreate(%s, unknown %q) = true", r, u)
			}
		}
	}
}

func TestAssignable(t *testing.T) {
	want := map[Role][]Role{
		SuperAdmin:      {Admin, Creator, Viewer, EcommerceViewer},
		Admin:           {Creator, Viewer, EcommerceViewer},
		Creator:         {},
		Viewer:          {},
		EcommerceViewer: {},
		"":              {},
		"ROOT":          {},
		"super_admin":   {},
		"Admin":         {},
	}
	for _, r := range allRoles() {
		got := Assignable(r)
		if got == nil {
			t.Errorf("Assignable(%q) = nil, want non-nil", r)
		}
		if !reflect.DeepEqual(got, want[r]) {
			t.Errorf("Assignable(%q) = %v, want %v", r, got, want[r])
		}
	}
}

func TestCanAssign(t *testing.T) {
	// CanAssign is only the "give a role ranked strictly lower than your
	// own" half of the rule; it does not look at the permission table, so
	// a Creator "may assign" VIEWER here even though it may neither create
	// users nor change roles. The permission half is in CanCreate and
	// CanChangeRole, which are what callers must use.
	// rows: actor; columns: role given,
	// SUPER_ADMIN, ADMIN, CREATOR, VIEWER, ECOMMERCE_VIEWER
	grid := map[Role][5]bool{
		SuperAdmin:      {no, yes, yes, yes, yes},
		Admin:           {no, no, yes, yes, yes},
		Creator:         {no, no, no, yes, yes},
		Viewer:          {no, no, no, no, no},
		EcommerceViewer: {no, no, no, no, no},
	}
	for _, ar := range five {
		for k, nr := range five {
			if got, want := CanAssign(ar, nr), grid[ar][k]; got != want {
				t.Errorf("CanAssign(%s, %s) = %v, want %v", ar, nr, got, want)
			}
		}
		for _, u := range unknown {
			if CanAssign(ar, u) {
				t.Errorf("CanAssign(%s, unknown %q) = true", ar, u)
			}
			if CanAssign(u, ar) {
				t.Errorf("CanAssign(unknown %q, %s) = true", u, ar)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Worked examples of DESIGN.md section 1 (and seeds/001)
// ---------------------------------------------------------------------------

func TestWorkedExamples(t *testing.T) {
	super := subj("super", SuperAdmin)
	admin := subj("admin", Admin)
	otherSuper := subj("super2", SuperAdmin)
	otherAdmin := subj("admin2", Admin)
	creator := subj("creator", Creator)
	viewer := subj("viewer", Viewer)
	ecom := subj("ecom", EcommerceViewer)

	may := func(t *testing.T, actor, target Subject, to Role) {
		t.Helper()
		if !CanChangeRole(actor, target, to) {
			t.Errorf("%s may not change %s to %s, want may", actor.Role, target.Role, to)
		}
		if !contains(AssignableTo(actor, target), to) {
			t.Errorf("AssignableTo(%s -> %s) = %v, lacks %s", actor.Role, target.Role, AssignableTo(actor, target), to)
		}
	}
	mayNot := func(t *testing.T, actor, target Subject, to Role) {
		t.Helper()
		if CanChangeRole(actor, target, to) {
			t.Errorf("%s may change %s to %s, want may not", actor.Role, target.Role, to)
		}
		if contains(AssignableTo(actor, target), to) {
			t.Errorf("AssignableTo(%s -> %s) = %v, offers %s", actor.Role, target.Role, AssignableTo(actor, target), to)
		}
	}

	t.Run("a Super Admin can change an Admin to Creator or Viewer", func(t *testing.T) {
		may(t, super, admin, Creator)
		may(t, super, admin, Viewer)
		mayNot(t, super, admin, SuperAdmin)
	})
	t.Run("a Super Admin can change a Creator to Admin or Viewer", func(t *testing.T) {
		may(t, super, creator, Admin)
		may(t, super, creator, Viewer)
		mayNot(t, super, creator, SuperAdmin)
	})
	t.Run("a Super Admin can change a Viewer to Admin or Creator", func(t *testing.T) {
		may(t, super, viewer, Admin)
		may(t, super, viewer, Creator)
		mayNot(t, super, viewer, SuperAdmin)
	})
	t.Run("An Admin can change a Creator to Viewer and a Viewer to Creator, never to Admin", func(t *testing.T) {
		may(t, admin, creator, Viewer)
		may(t, admin, viewer, Creator)
		mayNot(t, admin, creator, Admin)
		mayNot(t, admin, viewer, Admin)
		mayNot(t, admin, creator, SuperAdmin)
		mayNot(t, admin, viewer, SuperAdmin)
	})
	t.Run("changing a user to the role they already have is not offered", func(t *testing.T) {
		mayNotOffer := func(actor, target Subject) {
			if contains(AssignableTo(actor, target), target.Role) {
				t.Errorf("AssignableTo(%s -> %s) offers the current role", actor.Role, target.Role)
			}
		}
		for _, target := range []Subject{otherSuper, admin, creator, viewer, ecom} {
			mayNotOffer(super, target)
			mayNotOffer(admin, target)
		}
	})
	t.Run("nobody grants SUPER_ADMIN", func(t *testing.T) {
		for _, ar := range allRoles() {
			if CanCreate(ar, SuperAdmin) {
				t.Errorf("%q may create a SUPER_ADMIN", ar)
			}
			if CanAssign(ar, SuperAdmin) {
				t.Errorf("%q may assign SUPER_ADMIN", ar)
			}
			if contains(Assignable(ar), SuperAdmin) {
				t.Errorf("Assignable(%q) offers SUPER_ADMIN", ar)
			}
			for _, tr := range allRoles() {
				a, tg := subj("actor", ar), subj("target", tr)
				if CanChangeRole(a, tg, SuperAdmin) {
					t.Errorf("%q may change %q to SUPER_ADMIN", ar, tr)
				}
				if contains(AssignableTo(a, tg), SuperAdmin) {
					t.Errorf("AssignableTo(%q -> %q) offers SUPER_ADMIN", ar, tr)
				}
			}
		}
	})
	t.Run("an Admin can't grant ADMIN", func(t *testing.T) {
		if CanCreate(Admin, Admin) {
			t.Error("an Admin may create an ADMIN")
		}
		for _, target := range []Subject{creator, viewer, ecom} {
			mayNot(t, admin, target, Admin)
		}
	})
	t.Run("an Admin can't touch another Admin or a Super Admin", func(t *testing.T) {
		for _, a := range Actions {
			if CanAct(admin, otherAdmin, a) {
				t.Errorf("an Admin may %s another Admin", a)
			}
			if CanAct(admin, super, a) {
				t.Errorf("an Admin may %s a Super Admin", a)
			}
		}
		if got := AssignableTo(admin, otherAdmin); len(got) != 0 {
			t.Errorf("AssignableTo(Admin -> other Admin) = %v", got)
		}
		if got := AssignableTo(admin, super); len(got) != 0 {
			t.Errorf("AssignableTo(Admin -> Super Admin) = %v", got)
		}
	})
	t.Run("a Super Admin can't touch another Super Admin", func(t *testing.T) {
		for _, a := range Actions {
			if CanAct(super, otherSuper, a) {
				t.Errorf("a Super Admin may %s another Super Admin", a)
			}
		}
	})
	t.Run("nobody acts on themselves", func(t *testing.T) {
		for _, me := range []Subject{super, admin, creator, viewer, ecom} {
			for _, a := range Actions {
				if CanAct(me, me, a) {
					t.Errorf("a %s may %s themselves", me.Role, a)
				}
			}
			for _, r := range five {
				if CanChangeRole(me, me, r) {
					t.Errorf("a %s may change their own role to %s", me.Role, r)
				}
			}
			if got := AssignableTo(me, me); len(got) != 0 {
				t.Errorf("AssignableTo(%s -> self) = %v", me.Role, got)
			}
		}
	})
	t.Run("VIEWER and ECOMMERCE_VIEWER share the lowest rank", func(t *testing.T) {
		if Viewer.Rank() != EcommerceViewer.Rank() {
			t.Errorf("rank VIEWER %d != ECOMMERCE_VIEWER %d", Viewer.Rank(), EcommerceViewer.Rank())
		}
		for _, r := range five {
			if r.Rank() < Viewer.Rank() {
				t.Errorf("%s ranks below VIEWER", r)
			}
		}
		otherViewer := subj("viewer2", Viewer)
		otherEcom := subj("ecom2", EcommerceViewer)
		for _, a := range Actions {
			if CanAct(viewer, ecom, a) {
				t.Errorf("a Viewer may %s an Ecommerce Viewer", a)
			}
			if CanAct(ecom, viewer, a) {
				t.Errorf("an Ecommerce Viewer may %s a Viewer", a)
			}
			if CanAct(viewer, otherViewer, a) || CanAct(ecom, otherEcom, a) {
				t.Errorf("a lowest-rank user may %s another of the same role", a)
			}
		}
		// Being equal in rank, one is not "lower" than the other.
		if Lower(Viewer, EcommerceViewer) != Viewer || Lower(EcommerceViewer, Viewer) != EcommerceViewer {
			t.Error("Lower treats VIEWER and ECOMMERCE_VIEWER as unequal")
		}
		// Both are below Admin, so an Admin moves users between them.
		may(t, admin, viewer, EcommerceViewer)
		may(t, admin, ecom, Viewer)
	})
}

func contains(rs []Role, r Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Role definitions for the `roles` query
// ---------------------------------------------------------------------------

func TestDefinitions(t *testing.T) {
	want := []Role{"SUPER_ADMIN", "ADMIN", "CREATOR", "VIEWER", "ECOMMERCE_VIEWER"}
	if len(Definitions) != len(want) {
		t.Fatalf("%d definitions, want %d", len(Definitions), len(want))
	}
	names := map[string]bool{}
	for i, d := range Definitions {
		if d.Role != want[i] {
			t.Errorf("Definitions[%d].Role = %s, want %s (rank order)", i, d.Role, want[i])
		}
		if i > 0 && d.Role.Rank() > Definitions[i-1].Role.Rank() {
			t.Errorf("Definitions[%d] (%s) ranks above Definitions[%d] (%s)", i, d.Role, i-1, Definitions[i-1].Role)
		}
		if d.Name == "" {
			t.Errorf("Definitions[%d] (%s) has no name", i, d.Role)
		}
		if d.Description == "" {
			t.Errorf("Definitions[%d] (%s) has no description", i, d.Role)
		}
		if names[d.Name] {
			t.Errorf("display name %q used twice", d.Name)
		}
		names[d.Name] = true
	}
}

func TestCanReadAudit(t *testing.T) {
	want := map[Role]bool{SuperAdmin: true, Admin: true, Creator: false, Viewer: false, EcommerceViewer: false, "": false, "ROOT": false}
	for r, w := range want {
		if got := CanReadAudit(r); got != w {
			t.Errorf("CanReadAudit(%q) = %v, want %v", r, got, w)
		}
	}
}
