// Package access is the role policy of the portal: the five roles, their
// ranks, the permission table and the hierarchy rule. It is pure: no I/O,
// no context, no clock. Every decision about who may do what to whom is
// made here, so that the rules can be read and tested in one place.
package access

// Role is a user's role in their organisation. The string values are the
// GraphQL enum values and the values stored in the database.
type Role string

const (
	SuperAdmin      Role = "SUPER_ADMIN"
	Admin           Role = "ADMIN"
	Creator         Role = "CREATOR"
	Viewer          Role = "VIEWER"
	EcommerceViewer Role = "ECOMMERCE_VIEWER"
)

// Roles lists every role, highest rank first.
var Roles = []Role{SuperAdmin, Admin, Creator, Viewer, EcommerceViewer}

// Rank orders roles: higher outranks lower. An unknown role has rank 0,
// below every real role, so it can never act on anyone.
func (r Role) Rank() int {
	switch r {
	case SuperAdmin:
		return 4
	case Admin:
		return 3
	case Creator:
		return 2
	case Viewer, EcommerceViewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the five roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// Lower returns whichever of a and b ranks lower (a when equal). It is the
// effective role of a session under the immediate role-change mode.
func Lower(a, b Role) Role {
	if b.Rank() < a.Rank() {
		return b
	}
	return a
}

// Permission is a capability checked on the server for every operation.
type Permission string

const (
	ViewUsers          Permission = "VIEW_USERS"
	ViewRoles          Permission = "VIEW_ROLES"
	CreateUsers        Permission = "CREATE_USERS"
	ChangeRoles        Permission = "CHANGE_ROLES"
	ResendInvitations  Permission = "RESEND_INVITATIONS"
	SendPasswordResets Permission = "SEND_PASSWORD_RESETS"
	ResetTwoFactor     Permission = "RESET_TWO_FACTOR"
	RemoveUsers        Permission = "REMOVE_USERS"
)

// Permissions lists every permission in the order of the design's table.
var Permissions = []Permission{ViewUsers, ViewRoles, CreateUsers, ChangeRoles,
	ResendInvitations, SendPasswordResets, ResetTwoFactor, RemoveUsers}

var managers = map[Permission]bool{CreateUsers: true, ChangeRoles: true,
	ResendInvitations: true, SendPasswordResets: true, ResetTwoFactor: true, RemoveUsers: true}

// Has reports whether role r holds permission p (DESIGN.md section 1).
func (r Role) Has(p Permission) bool {
	switch {
	case !r.Valid():
		return false
	case p == ViewUsers || p == ViewRoles:
		return true
	case managers[p]:
		return r == SuperAdmin || r == Admin
	}
	return false
}

// PermissionsOf lists the permissions role r holds, in table order.
func PermissionsOf(r Role) []Permission {
	var out []Permission
	for _, p := range Permissions {
		if r.Has(p) {
			out = append(out, p)
		}
	}
	return out
}

// Assignable lists the roles an actor with role r may give to someone:
// every role ranked strictly below r. SUPER_ADMIN is never in it.
func Assignable(r Role) []Role {
	if !r.Has(ChangeRoles) && !r.Has(CreateUsers) {
		return []Role{}
	}
	out := []Role{}
	for _, x := range Roles {
		if x.Rank() < r.Rank() {
			out = append(out, x)
		}
	}
	return out
}

// CanAssign reports whether an actor with role actor may give role r.
func CanAssign(actor, r Role) bool {
	return r.Valid() && r.Rank() < actor.Rank() && r != SuperAdmin
}

// Action is something one user does to another.
type Action string

const (
	ActChangeRole        Action = "CHANGE_ROLE"
	ActResendInvitation  Action = "RESEND_INVITATION"
	ActSendPasswordReset Action = "SEND_PASSWORD_RESET"
	ActResetTwoFactor    Action = "RESET_TWO_FACTOR"
	ActRemove            Action = "REMOVE_USER"
)

// Actions lists every action aimed at another user.
var Actions = []Action{ActChangeRole, ActResendInvitation, ActSendPasswordReset, ActResetTwoFactor, ActRemove}

// Permission is the permission an action needs.
func (a Action) Permission() Permission {
	switch a {
	case ActChangeRole:
		return ChangeRoles
	case ActResendInvitation:
		return ResendInvitations
	case ActSendPasswordReset:
		return SendPasswordResets
	case ActResetTwoFactor:
		return ResetTwoFactor
	case ActRemove:
		return RemoveUsers
	}
	return ""
}

// Subject is the part of a user that the policy looks at.
type Subject struct {
	ID   string
	Role Role
}

// CanAct reports whether actor may perform action a on target: the actor's
// role holds the action's permission, the target is someone else, and the
// target ranks strictly below the actor. Status rules (for example that
// only INVITED users get invitations) are input checks, not policy.
func CanAct(actor, target Subject, a Action) bool {
	p := a.Permission()
	return p != "" && actor.Role.Has(p) && actor.ID != target.ID &&
		target.Role.Valid() && target.Role.Rank() < actor.Role.Rank()
}

// CanChangeRole reports whether actor may change target's role to r. It
// does not reject r == target's current role: that is invalid input
// (BAD_USER_INPUT), not a denial.
func CanChangeRole(actor, target Subject, r Role) bool {
	return CanAct(actor, target, ActChangeRole) && CanAssign(actor.Role, r)
}

// CanCreate reports whether actor may create a user with role r.
func CanCreate(actor Role, r Role) bool {
	return actor.Has(CreateUsers) && CanAssign(actor, r)
}

// AssignableTo lists the roles actor may change target to right now: none
// if actor may not change target's role, and never target's current role.
func AssignableTo(actor, target Subject) []Role {
	out := []Role{}
	if !CanAct(actor, target, ActChangeRole) {
		return out
	}
	for _, r := range Assignable(actor.Role) {
		if r != target.Role {
			out = append(out, r)
		}
	}
	return out
}

// Definition describes a role for the `roles` query.
type Definition struct {
	Role        Role
	Name        string
	Description string
}

// Definitions lists the five roles with display names, highest first.
var Definitions = []Definition{
	{SuperAdmin, "Super Admin", "The organisation's signatories, with the highest authority. Manages every user ranked below; created only by an operator."},
	{Admin, "Admin", "Manages users: creates them and changes, resets and removes users ranked below Admin."},
	{Creator, "Creator", "Uses the portal's functions; no user management."},
	{Viewer, "Viewer", "Read-only access to the portal."},
	{EcommerceViewer, "Ecommerce Viewer", "Read-only access to eCommerce data only."},
}

// CanReadAudit reports whether role r may read the organisation's audit
// log: the roles that manage users (Super Admin and Admin).
func CanReadAudit(r Role) bool { return r.Has(ChangeRoles) }
