package graph_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// The permission matrix of DESIGN.md section 1, checked through the HTTP
// API on both backends: every actor role against every target role, every
// action and every new role. The expected answers are written out below by
// hand, not computed by package access, so that a change in the policy
// package can't change what this test expects.

// mxRoles is the order of the columns and rows of the tables below.
var mxRoles = []string{"SUPER_ADMIN", "ADMIN", "CREATOR", "VIEWER", "ECOMMERCE_VIEWER"}

// Columns of mxTables' action table: an action and the target's state.
const (
	mxResendInvited = iota // resendInvitation, INVITED target
	mxResendActive         // resendInvitation, ACTIVE target
	mxResetActive          // sendPasswordReset, ACTIVE target
	mxResetInvited         // sendPasswordReset, INVITED target
	mx2FAEnrolled          // resetTwoFactor, ACTIVE target with 2FA enrolled
	mx2FAInvited           // resetTwoFactor, INVITED target (no 2FA)
	mxRemoveActive         // removeUser, ACTIVE target
	mxRemoveInvited        // removeUser, INVITED target
	mxColumns
)

// mxColumn describes one column of the action table.
var mxColumn = [mxColumns]struct {
	action string
	status portal.Status
}{
	mxResendInvited: {"resendInvitation", portal.StatusInvited},
	mxResendActive:  {"resendInvitation", portal.StatusActive},
	mxResetActive:   {"sendPasswordReset", portal.StatusActive},
	mxResetInvited:  {"sendPasswordReset", portal.StatusInvited},
	mx2FAEnrolled:   {"resetTwoFactor", portal.StatusActive},
	mx2FAInvited:    {"resetTwoFactor", portal.StatusInvited},
	mxRemoveActive:  {"removeUser", portal.StatusActive},
	mxRemoveInvited: {"removeUser", portal.StatusInvited},
}

// mxTables returns the literal expectations: "" allowed, otherwise the
// extensions.code of the refusal.
//
//   - changeRole[actor][target] lists, per new role in mxRoles order, the
//     answer to changing a target of that role (ACTIVE or INVITED alike);
//   - actions[actor][target] lists the answer per mxColumn;
//   - create[actor] lists, per new role, the answer to createUser.
func mxTables() (changeRole map[string]map[string][5]string, actions map[string]map[string][mxColumns]string, create map[string][5]string) {
	const (
		Y = ""               // allowed
		F = "FORBIDDEN"      // the role or hierarchy rule denies it
		B = "BAD_USER_INPUT" // allowed, but the input is wrong (same role, wrong status)
	)
	allF5 := [5]string{F, F, F, F, F}
	allF8 := [mxColumns]string{F, F, F, F, F, F, F, F}
	noAccess := func() map[string][5]string {
		return map[string][5]string{"SUPER_ADMIN": allF5, "ADMIN": allF5, "CREATOR": allF5, "VIEWER": allF5, "ECOMMERCE_VIEWER": allF5}
	}
	noActions := func() map[string][mxColumns]string {
		return map[string][mxColumns]string{"SUPER_ADMIN": allF8, "ADMIN": allF8, "CREATOR": allF8, "VIEWER": allF8, "ECOMMERCE_VIEWER": allF8}
	}
	changeRole = map[string]map[string][5]string{
		//                            to: SUPER_ADMIN ADMIN CREATOR VIEWER ECOMMERCE_VIEWER
		"SUPER_ADMIN": {
			"SUPER_ADMIN":      {F, F, F, F, F},
			"ADMIN":            {F, B, Y, Y, Y},
			"CREATOR":          {F, Y, B, Y, Y},
			"VIEWER":           {F, Y, Y, B, Y},
			"ECOMMERCE_VIEWER": {F, Y, Y, Y, B},
		},
		"ADMIN": {
			"SUPER_ADMIN":      {F, F, F, F, F},
			"ADMIN":            {F, F, F, F, F},
			"CREATOR":          {F, F, B, Y, Y},
			"VIEWER":           {F, F, Y, B, Y},
			"ECOMMERCE_VIEWER": {F, F, Y, Y, B},
		},
		"CREATOR":          noAccess(),
		"VIEWER":           noAccess(),
		"ECOMMERCE_VIEWER": noAccess(),
	}
	actions = map[string]map[string][mxColumns]string{
		//       resend: invited active | reset: active invited | 2FA: enrolled invited | remove: active invited
		"SUPER_ADMIN": {
			"SUPER_ADMIN":      {F, F, F, F, F, F, F, F},
			"ADMIN":            {Y, B, Y, B, Y, B, Y, Y},
			"CREATOR":          {Y, B, Y, B, Y, B, Y, Y},
			"VIEWER":           {Y, B, Y, B, Y, B, Y, Y},
			"ECOMMERCE_VIEWER": {Y, B, Y, B, Y, B, Y, Y},
		},
		"ADMIN": {
			"SUPER_ADMIN":      {F, F, F, F, F, F, F, F},
			"ADMIN":            {F, F, F, F, F, F, F, F},
			"CREATOR":          {Y, B, Y, B, Y, B, Y, Y},
			"VIEWER":           {Y, B, Y, B, Y, B, Y, Y},
			"ECOMMERCE_VIEWER": {Y, B, Y, B, Y, B, Y, Y},
		},
		"CREATOR":          noActions(),
		"VIEWER":           noActions(),
		"ECOMMERCE_VIEWER": noActions(),
	}
	create = map[string][5]string{
		//                 SUPER_ADMIN ADMIN CREATOR VIEWER ECOMMERCE_VIEWER
		"SUPER_ADMIN":      {F, Y, Y, Y, Y},
		"ADMIN":            {F, F, Y, Y, Y},
		"CREATOR":          {F, F, F, F, F},
		"VIEWER":           {F, F, F, F, F},
		"ECOMMERCE_VIEWER": {F, F, F, F, F},
	}
	return changeRole, actions, create
}

// mxMutations are the admin actions, each taking $id (and changeRole $r).
var mxMutations = map[string]string{
	"changeRole":        `mutation($id: ID!, $r: Role!) { changeRole(input: {userId: $id, role: $r}) { user { id role } } }`,
	"resendInvitation":  `mutation($id: ID!) { resendInvitation(input: {userId: $id}) { user { id status } } }`,
	"sendPasswordReset": `mutation($id: ID!) { sendPasswordReset(input: {userId: $id}) { user { id } } }`,
	"resetTwoFactor":    `mutation($id: ID!) { resetTwoFactor(input: {userId: $id}) { user { id twoFactorEnabled } } }`,
	"removeUser":        `mutation($id: ID!) { removeUser(input: {userId: $id}) { removedUserId } }`,
}

// mxAuditAction is the audit action each mutation records.
var mxAuditAction = map[string]string{
	"changeRole": "ROLE_CHANGED", "resendInvitation": "INVITATION_RESENT", "sendPasswordReset": "PASSWORD_RESET_SENT",
	"resetTwoFactor": "TWO_FACTOR_RESET", "removeUser": "USER_REMOVED",
}

// mxBadField is extensions.field of a BAD_USER_INPUT answer per mutation.
var mxBadField = map[string]string{
	"changeRole": "role", "resendInvitation": "userId", "sendPasswordReset": "userId",
	"resetTwoFactor": "userId", "removeUser": "userId",
}

// mxDo runs one admin mutation as token on user id.
func mxDo(e *graphtest.Env, token, action, id, role string) *graphtest.Response {
	e.T.Helper()
	vars := map[string]any{"id": id}
	if action == "changeRole" {
		vars["r"] = role
	}
	return e.Post(token, mxMutations[action], vars)
}

// mxUserRow is a user's row as stored, removed users included.
type mxUserRow struct {
	bun.BaseModel     `bun:"table:users"`
	ID                string     `bun:"id,pk"`
	OrgID             string     `bun:"org_id"`
	Email             string     `bun:"email"`
	Name              string     `bun:"name"`
	Role              string     `bun:"role"`
	Status            string     `bun:"status"`
	PasswordHash      string     `bun:"password_hash"`
	TOTPSecret        []byte     `bun:"totp_secret"`
	TwoFactorEnabled  bool       `bun:"two_factor_enabled"`
	InvitationSentAt  *time.Time `bun:"invitation_sent_at"`
	SessionsNotBefore *time.Time `bun:"sessions_not_before"`
	RemovedAt         *time.Time `bun:"removed_at"`
}

func (r mxUserRow) String() string {
	ts := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("{id=%s org=%s email=%s name=%q role=%s status=%s pw=%t totp=%s 2fa=%t invited=%s notBefore=%s removed=%s}",
		r.ID, r.OrgID, r.Email, r.Name, r.Role, r.Status, r.PasswordHash != "", hex.EncodeToString(r.TOTPSecret),
		r.TwoFactorEnabled, ts(r.InvitationSentAt), ts(r.SessionsNotBefore), ts(r.RemovedAt))
}

// mxRow reads a user's row, removed or not.
func mxRow(t testing.TB, e *graphtest.Env, id string) mxUserRow {
	t.Helper()
	var r mxUserRow
	if err := e.DB.Bun().NewSelect().Model(&r).Where("id = ?", id).Scan(context.Background()); err != nil {
		t.Fatalf("read user %s: %v", id, err)
	}
	return r
}

// mxCount counts the rows of table (with an optional condition).
func mxCount(t testing.TB, e *graphtest.Env, table, where string, args ...any) int {
	t.Helper()
	q := e.DB.Bun().NewSelect().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	n, err := q.Count(context.Background())
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return int(n)
}

// mxState is everything a denied or invalid mutation must leave alone.
type mxState struct {
	Target                                        string // the target's row; "" when there is none
	Users, Audit, Outbox, Tokens, Used, Delivered int
}

func mxSnapshot(t testing.TB, e *graphtest.Env, target string) mxState {
	t.Helper()
	s := mxState{
		Users:     mxCount(t, e, "users", ""),
		Audit:     mxCount(t, e, "audit_log", ""),
		Outbox:    mxCount(t, e, "outbox", ""),
		Tokens:    mxCount(t, e, "tokens", ""),
		Used:      mxCount(t, e, "tokens", "used_at IS NOT NULL"),
		Delivered: len(e.Deliver()),
	}
	if target != "" {
		s.Target = mxRow(t, e, target).String()
	}
	return s
}

// mxLatestAudit is the organisation's newest audit entry.
func mxLatestAudit(t testing.TB, e *graphtest.Env, orgID string) *portal.AuditEntry {
	t.Helper()
	entries, err := e.DB.ListAudit(context.Background(), orgID, portal.AuditQuery{Limit: 1})
	if err != nil || len(entries) != 1 {
		t.Fatalf("latest audit entry: %v (%d entries)", err, len(entries))
	}
	return entries[0]
}

// mxOrg is an organisation populated for the matrix: one signed-in actor
// per role, and shared targets (one ACTIVE with 2FA enrolled and one
// INVITED with an open invitation per role) that only ever receive
// refused requests. Allowed cases get a fresh target each.
type mxOrg struct {
	e       *graphtest.Env
	org     string
	actorID map[string]string
	token   map[string]string
	active  map[string]string // role -> ACTIVE target with 2FA
	invited map[string]string // role -> INVITED target
	sessOf  map[string]string // target id -> its session token
	n       int
}

func mxSetup(t *testing.T, e *graphtest.Env) *mxOrg {
	t.Helper()
	saToken, saID := e.CreateOrganization("Acme", "sa@acme.test")
	o := &mxOrg{e: e, org: e.OrgOf(saID), actorID: map[string]string{"SUPER_ADMIN": saID},
		token: map[string]string{"SUPER_ADMIN": saToken}, active: map[string]string{},
		invited: map[string]string{}, sessOf: map[string]string{}}
	for _, r := range mxRoles[1:] {
		o.actorID[r], o.token[r] = o.fresh(r, portal.StatusActive, true)
	}
	for _, r := range mxRoles {
		var tok string
		o.active[r], tok = o.fresh(r, portal.StatusActive, true)
		o.sessOf[o.active[r]] = tok
		o.invited[r], _ = o.fresh(r, portal.StatusInvited, false)
	}
	return o
}

// fresh seeds a new user of the organisation: INVITED ones with an open
// invitation link, ACTIVE ones signed in once (2FA enrolled) when
// twoFactor is set. It returns the id and the session token, if any.
func (o *mxOrg) fresh(role string, status portal.Status, twoFactor bool) (id, token string) {
	e := o.e
	e.T.Helper()
	o.n++
	email := fmt.Sprintf("u%03d-%s@acme.test", o.n, role)
	u := &portal.User{OrgID: o.org, Email: email, Name: fmt.Sprintf("User %d", o.n), Role: access.Role(role), Status: status}
	if status == portal.StatusInvited {
		now := e.Clock.Now()
		u.InvitationSentAt = &now
	}
	id = e.SeedUser(u)
	if status == portal.StatusInvited {
		now := e.Clock.Now()
		if err := e.DB.CreateToken(context.Background(), &portal.Token{UserID: id, Kind: portal.TokenInvitation,
			Hash: portal.HashToken(portal.NewToken()), ExpiresAt: now.Add(72 * time.Hour), CreatedAt: now}); err != nil {
			e.T.Fatal(err)
		}
	}
	if twoFactor {
		token = e.SignIn(email, graphtest.Password)
	}
	return id, token
}

// mxExpectRefused checks a refused request: the code (and field), a null
// result, and that nothing at all changed.
func mxExpectRefused(t *testing.T, e *graphtest.Env, name string, r *graphtest.Response, want, field string, before, after mxState) {
	t.Helper()
	if got := r.Code(); got != want {
		t.Errorf("%s: code %q, want %q (errors %+v, data %s)", name, got, want, r.Errors, r.Data)
		return
	}
	if want == "BAD_USER_INPUT" && field != "" && r.Field() != field {
		t.Errorf("%s: extensions.field %q, want %q", name, r.Field(), field)
	}
	if before != after {
		t.Errorf("%s: a refused request changed state:\n before %+v\n after  %+v", name, before, after)
	}
}

// mxExpectDone checks an allowed action: its effect, one audit entry by
// the actor about the target, and the emails and tokens it should make.
func (o *mxOrg) mxExpectDone(t *testing.T, name string, r *graphtest.Response, actor, action, target, newRole string, before mxState) {
	t.Helper()
	e := o.e
	if len(r.Errors) > 0 {
		t.Errorf("%s: allowed action refused: %+v", name, r.Errors)
		return
	}
	after := mxSnapshot(t, e, "")
	row := mxRow(t, e, target)
	if after.Audit != before.Audit+1 {
		t.Errorf("%s: %d new audit entries, want 1", name, after.Audit-before.Audit)
	}
	a := mxLatestAudit(t, e, o.org)
	if string(a.Action) != mxAuditAction[action] || a.ActorID == nil || *a.ActorID != o.actorID[actor] || a.TargetID == nil || *a.TargetID != target {
		t.Errorf("%s: latest audit entry %+v", name, a)
	}
	newEmails, newTokens := 0, 0
	switch action {
	case "changeRole":
		if row.Role != newRole {
			t.Errorf("%s: role is %s, want %s", name, row.Role, newRole)
		}
		if a.AfterRole == nil || string(*a.AfterRole) != newRole || a.BeforeRole == nil {
			t.Errorf("%s: audit before/after %v/%v", name, a.BeforeRole, a.AfterRole)
		}
	case "resendInvitation":
		newEmails, newTokens = 1, 1
		if after.Used != before.Used+1 {
			t.Errorf("%s: the earlier invitation link was not revoked", name)
		}
	case "sendPasswordReset":
		newEmails, newTokens = 1, 1
		if row.PasswordHash == "" {
			t.Errorf("%s: the password was cleared", name)
		}
	case "resetTwoFactor":
		if row.TOTPSecret != nil || row.TwoFactorEnabled || row.SessionsNotBefore == nil {
			t.Errorf("%s: 2FA not reset: %s", name, row)
		}
	case "removeUser":
		if row.RemovedAt == nil {
			t.Errorf("%s: not removed: %s", name, row)
		}
		if open := mxCount(t, e, "tokens", "user_id = ? AND used_at IS NULL", target); open != 0 {
			t.Errorf("%s: %d links of the removed user still open", name, open)
		}
	}
	if after.Outbox != before.Outbox+newEmails || after.Delivered != before.Delivered+newEmails {
		t.Errorf("%s: %d new outbox emails (%d delivered), want %d", name, after.Outbox-before.Outbox, after.Delivered-before.Delivered, newEmails)
	}
	if after.Tokens != before.Tokens+newTokens {
		t.Errorf("%s: %d new tokens, want %d", name, after.Tokens-before.Tokens, newTokens)
	}
	if after.Users != before.Users {
		t.Errorf("%s: user count changed", name)
	}
}

// mxViewerCan is what User.viewerCan and User.assignableRoles answer.
type mxViewerCan struct {
	ID        string
	ViewerCan struct {
		ChangeRole, ResendInvitation, SendPasswordReset, ResetTwoFactor, Remove bool
	}
	AssignableRoles []string
}

// TestPermissionMatrix runs every actor role x target role x action
// through the API and compares the answers with the literal tables.
func TestPermissionMatrix(t *testing.T) {
	changeRole, actions, create := mxTables()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		o := mxSetup(t, e)

		// viewerCan and assignableRoles, for every actor about every
		// shared target, every other actor, and themself.
		for _, actor := range mxRoles {
			t.Run("viewerCan/"+actor, func(t *testing.T) {
				var out struct {
					Users struct{ Nodes []mxViewerCan }
				}
				e.MustPost(o.token[actor], `{ users(first: 100) { nodes { id assignableRoles
					viewerCan { changeRole resendInvitation sendPasswordReset resetTwoFactor remove } } } }`, nil, &out)
				got := map[string]mxViewerCan{}
				for _, n := range out.Users.Nodes {
					got[n.ID] = n
				}
				check := func(what, id, targetRole string, status portal.Status) {
					t.Helper()
					g, ok := got[id]
					if !ok {
						t.Errorf("%s: %s missing from users", actor, what)
						return
					}
					var want mxViewerCan
					want.ID = id
					want.AssignableRoles = []string{}
					row := actions[actor][targetRole]
					if id != o.actorID[actor] {
						for i, r := range mxRoles {
							if changeRole[actor][targetRole][i] == "" {
								want.AssignableRoles = append(want.AssignableRoles, r)
							}
						}
						want.ViewerCan.ChangeRole = len(want.AssignableRoles) > 0
						if status == portal.StatusInvited {
							want.ViewerCan.ResendInvitation = row[mxResendInvited] == ""
							want.ViewerCan.SendPasswordReset = row[mxResetInvited] == ""
							want.ViewerCan.ResetTwoFactor = row[mx2FAInvited] == ""
							want.ViewerCan.Remove = row[mxRemoveInvited] == ""
						} else {
							want.ViewerCan.ResendInvitation = row[mxResendActive] == ""
							want.ViewerCan.SendPasswordReset = row[mxResetActive] == ""
							want.ViewerCan.ResetTwoFactor = row[mx2FAEnrolled] == ""
							want.ViewerCan.Remove = row[mxRemoveActive] == ""
						}
					}
					if g.ViewerCan != want.ViewerCan || !slices.Equal(g.AssignableRoles, want.AssignableRoles) {
						t.Errorf("%s about %s: got %+v, want %+v", actor, what, g, want)
					}
				}
				for _, r := range mxRoles {
					check("ACTIVE "+r, o.active[r], r, portal.StatusActive)
					check("INVITED "+r, o.invited[r], r, portal.StatusInvited)
					check("actor "+r, o.actorID[r], r, portal.StatusActive) // themself when r == actor
				}
			})
		}

		for _, actor := range mxRoles {
			t.Run(actor, func(t *testing.T) {
				tok, me := o.token[actor], o.actorID[actor]

				// Acting on oneself is refused for every action.
				for _, action := range []string{"changeRole", "resendInvitation", "sendPasswordReset", "resetTwoFactor", "removeUser"} {
					newRoles := []string{""}
					if action == "changeRole" {
						newRoles = mxRoles
					}
					for _, nr := range newRoles {
						name := fmt.Sprintf("%s %s on themself %s", actor, action, nr)
						before := mxSnapshot(t, e, me)
						r := mxDo(e, tok, action, me, nr)
						mxExpectRefused(t, e, name, r, "FORBIDDEN", "", before, mxSnapshot(t, e, me))
					}
				}

				// changeRole, on ACTIVE and INVITED targets of every role.
				for ti, target := range mxRoles {
					for ni, nr := range mxRoles {
						for _, status := range []portal.Status{portal.StatusActive, portal.StatusInvited} {
							want := changeRole[actor][target][ni]
							name := fmt.Sprintf("%s changeRole %s %s -> %s", actor, status, target, nr)
							id := o.active[target]
							if status == portal.StatusInvited {
								id = o.invited[target]
							}
							if want == "" {
								id, _ = o.fresh(mxRoles[ti], status, false)
							}
							before := mxSnapshot(t, e, id)
							r := mxDo(e, tok, "changeRole", id, nr)
							if want == "" {
								o.mxExpectDone(t, name, r, actor, "changeRole", id, nr, before)
							} else {
								mxExpectRefused(t, e, name, r, want, mxBadField["changeRole"], before, mxSnapshot(t, e, id))
							}
						}
					}
				}

				// The other actions, per target role and target state.
				for _, target := range mxRoles {
					for col := range mxColumns {
						c := mxColumn[col]
						want := actions[actor][target][col]
						name := fmt.Sprintf("%s %s on %s %s", actor, c.action, c.status, target)
						id := o.active[target]
						if c.status == portal.StatusInvited {
							id = o.invited[target]
						}
						if want == "" {
							id, _ = o.fresh(target, c.status, col == mx2FAEnrolled)
						}
						before := mxSnapshot(t, e, id)
						r := mxDo(e, tok, c.action, id, "")
						if want == "" {
							o.mxExpectDone(t, name, r, actor, c.action, id, "", before)
						} else {
							mxExpectRefused(t, e, name, r, want, mxBadField[c.action], before, mxSnapshot(t, e, id))
						}
					}
				}

				// createUser with every role.
				for ri, nr := range mxRoles {
					want := create[actor][ri]
					email := fmt.Sprintf("created-by-%s-as-%s@acme.test", actor, nr)
					name := fmt.Sprintf("%s createUser %s", actor, nr)
					before := mxSnapshot(t, e, "")
					r := e.Post(tok, `mutation($e: String!, $r: Role!) { createUser(input: {email: $e, name: "New", role: $r}) { user { id role status } } }`,
						map[string]any{"e": email, "r": nr})
					after := mxSnapshot(t, e, "")
					_, lookErr := e.DB.UserByEmail(context.Background(), email)
					if want != "" {
						mxExpectRefused(t, e, name, r, want, "", before, after)
						if portal.KindOf(lookErr) != portal.KindNotFound {
							t.Errorf("%s: a refused createUser left a user behind (%v)", name, lookErr)
						}
						continue
					}
					if len(r.Errors) > 0 || lookErr != nil {
						t.Errorf("%s: allowed createUser failed: %+v %v", name, r.Errors, lookErr)
						continue
					}
					u, _ := e.DB.UserByEmail(context.Background(), email)
					if string(u.Role) != nr || u.Status != portal.StatusInvited || u.InvitedByID == nil || *u.InvitedByID != me {
						t.Errorf("%s: created %+v", name, u)
					}
					if after.Users != before.Users+1 || after.Audit != before.Audit+1 || after.Outbox != before.Outbox+1 || after.Tokens != before.Tokens+1 {
						t.Errorf("%s: before %+v after %+v", name, before, after)
					}
				}
			})
		}

		// The shared targets were refused everything: their sessions live.
		for r, id := range o.active {
			if res := e.Post(o.sessOf[id], `{ me { id role } }`, nil); len(res.Errors) > 0 {
				t.Errorf("shared %s target lost its session: %+v", r, res.Errors)
			}
		}
	})
}

// TestWorkedExamples are the worked examples of DESIGN.md section 1.
func TestWorkedExamples(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		saToken, saID := e.CreateOrganization("Acme", "sa@acme.test")
		org := e.OrgOf(saID)
		n := 0
		seed := func(role string) string {
			n++
			return e.SeedUser(&portal.User{OrgID: org, Email: fmt.Sprintf("w%02d@acme.test", n), Name: fmt.Sprintf("W %d", n), Role: access.Role(role)})
		}
		adminID := seed("ADMIN")
		var adminEmail string
		{
			row := mxRow(t, e, adminID)
			adminEmail = row.Email
		}
		adminToken := e.SignIn(adminEmail, graphtest.Password)

		change := func(t *testing.T, token, from, to string) {
			t.Helper()
			id := seed(from)
			var out struct {
				ChangeRole struct{ User struct{ ID, Role string } }
			}
			e.MustPost(token, mxMutations["changeRole"], map[string]any{"id": id, "r": to}, &out)
			if out.ChangeRole.User.Role != to || mxRow(t, e, id).Role != to {
				t.Errorf("%s -> %s: answer %+v, stored %s", from, to, out.ChangeRole.User, mxRow(t, e, id).Role)
			}
		}
		refused := func(t *testing.T, token, action, id, to string) {
			t.Helper()
			before := mxSnapshot(t, e, id)
			r := mxDo(e, token, action, id, to)
			mxExpectRefused(t, e, fmt.Sprintf("%s %s", action, to), r, "FORBIDDEN", "", before, mxSnapshot(t, e, id))
		}

		t.Run("a Super Admin can change an Admin to Creator or Viewer", func(t *testing.T) {
			change(t, saToken, "ADMIN", "CREATOR")
			change(t, saToken, "ADMIN", "VIEWER")
		})
		t.Run("a Creator to Admin or Viewer", func(t *testing.T) {
			change(t, saToken, "CREATOR", "ADMIN")
			change(t, saToken, "CREATOR", "VIEWER")
		})
		t.Run("a Viewer to Admin or Creator", func(t *testing.T) {
			change(t, saToken, "VIEWER", "ADMIN")
			change(t, saToken, "VIEWER", "CREATOR")
		})
		t.Run("An Admin can change a Creator to Viewer and a Viewer to Creator, never to Admin", func(t *testing.T) {
			change(t, adminToken, "CREATOR", "VIEWER")
			change(t, adminToken, "VIEWER", "CREATOR")
			refused(t, adminToken, "changeRole", seed("CREATOR"), "ADMIN")
			refused(t, adminToken, "changeRole", seed("VIEWER"), "ADMIN")
		})
		t.Run("an Admin can't touch another Admin or a Super Admin", func(t *testing.T) {
			other := seed("ADMIN")
			for _, id := range []string{other, saID} {
				for _, to := range []string{"CREATOR", "VIEWER"} {
					refused(t, adminToken, "changeRole", id, to)
				}
				for _, action := range []string{"resendInvitation", "sendPasswordReset", "resetTwoFactor", "removeUser"} {
					refused(t, adminToken, action, id, "")
				}
			}
			// The Super Admin still has 2FA and a working session.
			var me struct {
				Me struct{ TwoFactorEnabled bool }
			}
			e.MustPost(saToken, `{ me { twoFactorEnabled } }`, nil, &me)
			if !me.Me.TwoFactorEnabled {
				t.Error("the Super Admin lost 2FA")
			}
		})
	})
}
