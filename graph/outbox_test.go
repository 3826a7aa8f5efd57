package graph_test

import (
	"strings"
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
)

// Emails still queued when their link dies are never sent: a resend
// supersedes the earlier invitation, a removal cancels everything queued
// for that user. Delivery is held back (no e.Deliver) until the end, as
// during an SMTP outage.
func TestQueuedEmailsWithDeadLinksAreCancelled(t *testing.T) {
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		token, _ := e.CreateOrganization("Acme", "ann@example.com")
		before := len(e.Deliver())

		bob := e.Invite(token, "bob@example.com", "Bob", "VIEWER")
		var out struct {
			ResendInvitation struct{ User struct{ ID string } }
		}
		e.MustPost(token, `mutation($id: ID!) { resendInvitation(input: {userId: $id}) { user { id } } }`,
			map[string]any{"id": bob}, &out)
		cat := e.Invite(token, "cat@example.com", "Cat", "VIEWER")
		var removed struct {
			RemoveUser struct{ RemovedUserID string }
		}
		e.MustPost(token, `mutation($id: ID!) { removeUser(input: {userId: $id}) { removedUserId } }`,
			map[string]any{"id": cat}, &removed)

		sent := e.Deliver()[before:]
		var toBob, toCat int
		for _, m := range sent {
			switch strings.ToLower(m.To) {
			case "bob@example.com":
				toBob++
			case "cat@example.com":
				toCat++
			}
		}
		if toBob != 1 || toCat != 0 {
			t.Fatalf("sent %d emails to bob (want 1: the resend) and %d to cat (want 0: removed)", toBob, toCat)
		}
		// The one email bob got carries the live link.
		e.Accept("bob@example.com")
	})
}
