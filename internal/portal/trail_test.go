package portal_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/session"
	"github.com/clientportal/portal/internal/store"
	"github.com/clientportal/portal/internal/store/storetest"
)

// entries returns the organisation's audit entries of action, newest first.
func (e *env) entries(orgID string, action portal.AuditAction) []*portal.AuditEntry {
	e.t.Helper()
	e.svc.Flush()
	all, err := e.db.ListAudit(bg(), orgID, portal.AuditQuery{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*portal.AuditEntry
	for _, a := range all {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

// totalAudit counts the audit entries of every organisation.
func (e *env) totalAudit() int {
	e.t.Helper()
	e.svc.Flush()
	n, err := e.db.Bun().NewSelect().Table("audit_log").Count(bg())
	if err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func from(ip string) context.Context { return portal.WithClientIP(bg(), ip) }

// Sign-ins: success, wrong password (recorded after the answer, with no
// actor), wrong code; sign-outs. An unknown email records nothing.
func TestTrailSignIns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	_, bob := e.member(sa, "bob@example.com", access.Viewer)
	if got := e.entries(ann.OrgID, portal.AuditSignedIn); len(got) != 2 || *got[0].ActorID != bob.ID || *got[0].TargetID != bob.ID ||
		str(got[0].ActorName) != "Name of bob@example.com" || str(got[0].TargetEmail) != "bob@example.com" {
		t.Fatalf("SIGNED_IN entries %+v", got)
	}

	before := e.totalAudit()
	_, err := e.svc.Login(from("198.51.100.7"), "nobody@example.com", "a wrong password")
	wantKind(t, "unknown email", err, portal.KindUnauthenticated)
	if n := e.totalAudit(); n != before {
		t.Fatalf("an unknown email was recorded: %d entries, had %d", n, before)
	}

	_, err = e.svc.Login(from("198.51.100.7"), " BOB@example.com", "a wrong password")
	wantKind(t, "wrong password", err, portal.KindUnauthenticated)
	got := e.entries(ann.OrgID, portal.AuditSignInFailed)
	if len(got) != 1 || got[0].ActorID != nil || *got[0].TargetID != bob.ID || str(got[0].Reason) != portal.ReasonWrongPassword ||
		str(got[0].ClientIP) != "198.51.100.7" || str(got[0].TargetEmail) != "bob@example.com" {
		t.Fatalf("wrong password: %+v", got)
	}

	waiting := e.startLogin("bob@example.com")
	_, err = e.svc.VerifyTwoFactor(e.as(waiting.Token), "000000")
	wantKind(t, "wrong code", err, portal.KindInvalid)
	if got := e.entries(ann.OrgID, portal.AuditSignInFailed); len(got) != 2 || str(got[0].Reason) != portal.ReasonWrongCode || *got[0].TargetID != bob.ID {
		t.Fatalf("wrong code: %+v", got)
	}

	token := e.signIn("bob@example.com")
	if err := e.svc.Logout(e.as(token)); err != nil {
		t.Fatal(err)
	}
	if got := e.entries(ann.OrgID, portal.AuditSignedOut); len(got) != 1 || *got[0].ActorID != bob.ID || *got[0].TargetID != bob.ID {
		t.Fatalf("SIGNED_OUT entries %+v", got)
	}
}

// A locked account records LOCKED once per lock period however often it
// is tried; an unknown email's lock records nothing.
func TestTrailLocked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *portal.Config) {
		c.Limits.LoginPerAccount = portal.Limit{Rate: 2, Burst: 2, Period: time.Hour}
		c.Limits.TwoFactorPerAccount = portal.Limit{Rate: 2, Burst: 2, Period: time.Hour}
	})
	sa, ann := e.org("Acme", "ann@example.com")
	_, bob := e.member(sa, "bob@example.com", access.Viewer)
	for i := 0; i < 6; i++ { // 2 wrong passwords, then 4 refusals
		_, _ = e.svc.Login(from("198.51.100.7"), "bob@example.com", "wrong")
		_, _ = e.svc.Login(from("198.51.100.7"), "nobody@example.com", "wrong")
	}
	_, err := e.svc.Login(from("198.51.100.7"), "bob@example.com", password)
	wantKind(t, "locked login", err, portal.KindRateLimited)
	got := e.entries(ann.OrgID, portal.AuditSignInFailed)
	locked := 0
	for _, a := range got {
		if str(a.Reason) == portal.ReasonLocked {
			locked++
			if *a.TargetID != bob.ID || a.ActorID != nil {
				t.Fatalf("LOCKED entry %+v", a)
			}
		}
	}
	if locked != 1 {
		t.Fatalf("%d LOCKED entries, want 1: %+v", locked, got)
	}

	// The code budget: a waiting login that tries too often is locked too.
	e.clock.Advance(2 * time.Hour)
	waiting := e.startLogin("bob@example.com")
	for i := 0; i < 4; i++ {
		_, _ = e.svc.VerifyTwoFactor(e.as(waiting.Token), "000000")
	}
	locked = 0
	for _, a := range e.entries(ann.OrgID, portal.AuditSignInFailed) {
		if str(a.Reason) == portal.ReasonLocked {
			locked++
		}
	}
	if locked != 2 {
		t.Fatalf("%d LOCKED entries after the code budget ran out, want 2", locked)
	}
}

// A denied admin attempt is recorded with actor, target, what was asked
// and why, though the attempt itself changed nothing; an attempt on
// another organisation's user stays NOT_FOUND and leaves no trace.
func TestTrailDenials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	adm, adam := e.member(sa, "adam@example.com", access.Admin)
	viewer, val := e.member(sa, "val@example.com", access.Viewer)
	zedToken, zed := e.org("Other", "zed@example.com")
	zedBefore := len(e.audit(zed.OrgID))

	_, err := e.svc.RemoveUser(e.as(adm), ann.ID)
	wantKind(t, "admin removes the super admin", err, portal.KindForbidden)
	_, err = e.svc.CreateUser(e.as(viewer), "x@example.com", "X", access.Viewer)
	wantKind(t, "viewer creates", err, portal.KindForbidden)
	_, err = e.svc.CreateUser(e.as(adm), "Eve@Example.com", "Eve", access.Admin)
	wantKind(t, "admin creates an admin", err, portal.KindForbidden)
	_, err = e.svc.AuditLog(e.as(viewer), nil, nil)
	wantKind(t, "viewer reads the log", err, portal.KindForbidden)
	_, err = e.svc.ResetTwoFactor(e.as(viewer), adam.ID)
	wantKind(t, "viewer resets 2FA", err, portal.KindForbidden)
	_, err = e.svc.RemoveUser(e.as(sa), zed.ID)
	wantKind(t, "another organisation's user", err, portal.KindNotFound)
	_, err = e.svc.RemoveUser(e.as(zedToken), val.ID)
	wantKind(t, "another organisation's user, the other way", err, portal.KindNotFound)

	got := e.entries(ann.OrgID, portal.AuditAccessDenied)
	type row struct{ actor, target, targetEmail, before, after, reason string }
	want := []row{
		{val.ID, adam.ID, "adam@example.com", "ADMIN", "<nil>", "RESET_TWO_FACTOR: your role does not allow this"},
		{val.ID, "<nil>", "<nil>", "<nil>", "<nil>", "READ_AUDIT_LOG: your role does not allow this"},
		{adam.ID, "<nil>", "eve@example.com", "<nil>", "ADMIN", "CREATE_USER: you may only give roles ranked below your own"},
		{val.ID, "<nil>", "<nil>", "<nil>", "<nil>", "CREATE_USER: your role does not allow this"},
		{adam.ID, ann.ID, "ann@example.com", "SUPER_ADMIN", "<nil>", "REMOVE_USER: the user ranks at or above you"},
	}
	role := func(r *access.Role) string {
		if r == nil {
			return "<nil>"
		}
		return string(*r)
	}
	if len(got) != len(want) {
		t.Fatalf("%d ACCESS_DENIED entries, want %d", len(got), len(want))
	}
	for i, a := range got {
		if r := (row{str(a.ActorID), str(a.TargetID), str(a.TargetEmail), role(a.BeforeRole), role(a.AfterRole), str(a.Reason)}); r != want[i] {
			t.Errorf("denial %d = %+v, want %+v", i, r, want[i])
		}
	}
	if n := len(e.audit(zed.OrgID)); n != zedBefore {
		t.Fatalf("the other organisation's log grew from %d to %d", zedBefore, n)
	}
	if _, err := e.db.UserByEmail(bg(), "eve@example.com"); portal.KindOf(err) != portal.KindNotFound {
		t.Fatalf("the denied createUser wrote a user: %v", err)
	}
}

// Sessions ended by a reset or a removal are on record, and a removed
// user stays identifiable by name and email in every entry about them.
func TestTrailSessionsEndedAndRemovedUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa, ann := e.org("Acme", "ann@example.com")
	_, bob := e.member(sa, "bob@example.com", access.Viewer)
	if _, err := e.svc.SendPasswordReset(e.as(sa), bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(bg(), e.link("bob@example.com", "reset-password"), "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RemoveUser(e.as(sa), bob.ID); err != nil {
		t.Fatal(err)
	}
	got := e.entries(ann.OrgID, portal.AuditSessionsEnded)
	if len(got) != 2 || str(got[0].Reason) != "USER_REMOVED" || *got[0].ActorID != ann.ID ||
		str(got[1].Reason) != "PASSWORD_RESET" || *got[1].ActorID != bob.ID {
		t.Fatalf("SESSIONS_ENDED entries %+v", got)
	}
	e.svc.Flush()
	all, err := e.db.ListAudit(bg(), ann.OrgID, portal.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	about := 0
	for _, a := range all {
		if a.TargetID != nil && *a.TargetID == bob.ID {
			about++
			if str(a.TargetName) != "Name of bob@example.com" || str(a.TargetEmail) != "bob@example.com" {
				t.Errorf("%s names the removed user %q <%s>", a.Action, str(a.TargetName), str(a.TargetEmail))
			}
		}
	}
	if about < 7 {
		t.Fatalf("only %d entries about bob", about)
	}
}

// The retention job deletes entries older than the retention period, by
// the service's clock, on both databases, and keeps the rest.
func TestAuditPruner(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		cfg := portal.DefaultConfig()
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		svc := portal.New(cfg, db, session.NewMemory(time.Minute, time.Hour), session.NewMemoryLimiter(clock), clock,
			portal.NewHasher(1), storetest.Box(t), quiet)
		org, _, _, err := svc.CreateOrganization(bg(), "Acme", "ann@example.com", "Ann")
		if err != nil {
			t.Fatal(err)
		}
		// 1,005 more old entries: pruning goes in batches.
		err = db.InTx(bg(), func(tx portal.Store) error {
			for i := 0; i < 1005; i++ {
				if err := tx.AddAudit(bg(), &portal.AuditEntry{OrgID: org.ID, Action: portal.AuditSignedOut, CreatedAt: clock.Now()}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(200 * 24 * time.Hour)
		if _, _, _, err := svc.CreateOrganization(bg(), "Later", "lou@example.com", "Lou"); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			n, err := db.Bun().NewSelect().Table("audit_log").Count(bg())
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
		if n, err := svc.PruneAudit(bg()); err != nil || n != 0 || count() != 1009 {
			t.Fatalf("nothing is 400 days old yet: pruned %d, %v; %d left", n, err, count())
		}
		clock.Advance(200*24*time.Hour + time.Second) // the first entries are 400 days and a second old

		ctx, stop := context.WithCancel(bg())
		done := make(chan struct{})
		go func() { defer close(done); svc.RunAuditPruner(ctx, 10*time.Millisecond) }()
		deadline := time.Now().Add(20 * time.Second)
		for count() != 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		<-done
		if n := count(); n != 2 {
			t.Fatalf("%d entries left, want the 2 of the later organisation", n)
		}
		if got, _ := db.ListAudit(bg(), org.ID, portal.AuditQuery{Limit: 10}); len(got) != 0 {
			t.Fatalf("old entries kept: %+v", got)
		}
	})
}
