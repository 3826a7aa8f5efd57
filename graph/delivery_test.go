package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/clientportal/portal/graph/graphtest"
)

// The invitationDeliveryFailed field: true for a user whose latest
// invitation email failed for good, false while it waits or once it went
// out, and a resent invitation that goes out clears it.
func TestInvitationDeliveryFailedField(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		ctx := context.Background()
		admin, _ := e.CreateOrganization("Acme", "ann@example.com")
		bob := e.Invite(admin, "bob@example.com", "Bob", "VIEWER")
		e.Invite(admin, "carol@example.com", "Carol", "VIEWER")

		// The mail server refuses bob's invitation for good; carol's waits.
		msgs, err := e.DB.Claim(ctx, e.Clock.Now(), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Email.UserID == bob {
				err = e.DB.Fail(ctx, m.ID, m.Attempts, e.Clock.Now(), "550 no such mailbox")
			} else {
				err = e.DB.Release(ctx, m.ID, m.Attempts, e.Clock.Now())
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		failed := func() map[string]bool {
			var out struct {
				Users struct {
					Nodes []struct {
						Email                    string
						InvitationDeliveryFailed bool
					}
				}
			}
			e.MustPost(admin, `{ users { nodes { email invitationDeliveryFailed } } }`, nil, &out)
			m := map[string]bool{}
			for _, n := range out.Users.Nodes {
				m[n.Email] = n.InvitationDeliveryFailed
			}
			return m
		}
		if got := failed(); len(got) != 3 || !got["bob@example.com"] || got["carol@example.com"] || got["ann@example.com"] {
			t.Fatalf("invitationDeliveryFailed = %v; want only bob", got)
		}

		// A resent invitation that goes out clears it.
		var out struct {
			ResendInvitation struct{ User struct{ ID string } }
		}
		e.MustPost(admin, `mutation($id: ID!) { resendInvitation(input: {userId: $id}) { user { id } } }`, map[string]any{"id": bob}, &out)
		e.LinkToken("bob@example.com", "accept-invitation")
		if got := failed(); got["bob@example.com"] {
			t.Fatalf("after the resent invitation went out: %v", got)
		}
	})
}
