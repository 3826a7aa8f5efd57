package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// A login waiting for its 2FA code, whose request has already been
// authenticated, when an admin resets the user's 2FA (or the password is
// reset) before the code is checked: the code must not produce a session
// that outlives the reset, nor leave 2FA half-enabled. The service calls
// reproduce the interleaving that two HTTP requests can produce.
func TestLoginRacingAReset(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ctx := context.Background()
		admin, adminID := secOrg(t, e, "ann@example.com")
		const bob = "bob@example.com"
		bobID := secSeed(t, e, adminID, bob, access.Viewer)

		// 2FA reset during enrolment.
		waiting := e.StartLogin(bob, graphtest.Password)
		if waiting.Enrollment == nil {
			t.Fatal("first login did not enrol")
		}
		viewer, err := e.Service.Authenticate(ctx, waiting.Token)
		if err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Second)
		var reset struct {
			ResetTwoFactor struct{ User struct{ ID string } }
		}
		e.MustPost(admin, `mutation($id: ID!) { resetTwoFactor(input: {userId: $id}) { user { id } } }`, map[string]any{"id": bobID}, &reset)
		res, err := e.Service.VerifyTwoFactor(portal.WithViewer(ctx, viewer), e.Code(bob))
		if portal.KindOf(err) != portal.KindUnauthenticated {
			t.Fatalf("verify after the 2FA reset = %+v, %v; want UNAUTHENTICATED", res, err)
		}
		if u := secUser(t, e, bob); u.TwoFactorEnabled || u.TOTPSecret != nil {
			t.Fatalf("after the reset and the stale code: enabled=%v secret=%v", u.TwoFactorEnabled, u.TOTPSecret != nil)
		}
		// The account is not locked out: the next login enrols afresh.
		token := e.SignIn(bob, graphtest.Password)
		secMe(t, e, token)

		// Password reset while a login waits for its code.
		e.Clock.Advance(time.Minute)
		waiting = e.StartLogin(bob, graphtest.Password)
		viewer, err = e.Service.Authenticate(ctx, waiting.Token)
		if err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Second)
		var sent struct {
			SendPasswordReset struct{ User struct{ ID string } }
		}
		e.MustPost(admin, `mutation($id: ID!) { sendPasswordReset(input: {userId: $id}) { user { id } } }`, map[string]any{"id": bobID}, &sent)
		var done struct{ ResetPassword bool }
		e.MustPost("", `mutation($t: String!) { resetPassword(input: {token: $t, password: "a brand new password"}) }`,
			map[string]any{"t": e.LinkToken(bob, "reset-password")}, &done)
		res, err = e.Service.VerifyTwoFactor(portal.WithViewer(ctx, viewer), e.Code(bob))
		if err == nil {
			// Even if the code was accepted, the session must be dead.
			secDead(t, e, res.Token)
		} else if portal.KindOf(err) != portal.KindUnauthenticated {
			t.Fatalf("verify after the password reset: %v", err)
		}
		secDead(t, e, token)
	})
}
