package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/internal/store/storetest"
)

// An instance killed (SIGKILL) while it sends a batch of emails loses
// none: its claim is no longer renewed, so once the short lease lapses
// another instance sends every message of the batch, each exactly once
// here (the one in flight was never accepted), with a Message-ID derived
// from its outbox id.
func TestInstanceKilledMidSendLosesNoEmail(t *testing.T) {
	t.Parallel()
	sink := newMailSink(t)
	dbURL := storetest.NewPostgresURL(t)
	env := map[string]string{"PORTAL_DATABASE_URL": dbURL, "PORTAL_SMTP_URL": sink.URL(), "PORTAL_OUTBOX_LEASE": "3s"}
	a := startInstances(t, 1, env)[0]
	o := newOrg(t, env, sink, a.base)

	sink.setHold(true)
	var emails []string
	for i := range 3 {
		email := fmt.Sprintf("batch%d@example.com", i)
		mustPost(t, a.base, o.adminToken, `mutation($e: String!) { createUser(input: {email: $e, name: "User", role: VIEWER}) { user { id } } }`,
			map[string]any{"e": email})
		emails = append(emails, email)
	}
	select {
	case <-sink.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("instance A never started sending")
	}
	a.kill()
	killed := time.Now()
	sink.setHold(false)
	startInstances(t, 1, env) // B

	deadline := killed.Add(60 * time.Second)
	for {
		got := map[string]int{}
		for _, m := range sink.messages() {
			got[m.To]++
		}
		done := true
		for _, e := range emails {
			done = done && got[e] > 0
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("60s after the kill the sink has %v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every email of the killed instance's batch delivered %v after the kill", time.Since(killed).Round(100*time.Millisecond))

	db := openSQL(t, dbURL)
	ids := map[string]bool{}
	for _, e := range emails {
		var id string
		if err := db.QueryRow("SELECT id FROM outbox WHERE recipient = $1", e).Scan(&id); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range sink.messages() {
			if m.To != e {
				continue
			}
			n++
			mid := regexp.MustCompile(`(?im)^Message-ID:\s*<([^>]+)>`).FindStringSubmatch(m.Data)
			if mid == nil || !strings.HasPrefix(mid[1], id+"@") {
				t.Errorf("email to %s has Message-ID %v, want <%s@...>", e, mid, id)
			}
		}
		if n != 1 {
			t.Errorf("%s got %d copies, want 1", e, n)
		}
		ids[id] = true
	}
	if len(ids) != len(emails) {
		t.Fatalf("outbox ids %v are not one per email", ids)
	}
}
