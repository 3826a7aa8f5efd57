package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// TestPageReportsViolations: the harness sees what it must fail tests on:
// a Content-Security-Policy violation and a script error.
func TestPageReportsViolations(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'")
		if r.URL.Path == "/boom.js" {
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `document.body.append("loaded"); null.boom();`)
			return
		}
		fmt.Fprint(w, `<!doctype html><title>t</title><body><label for="f">Name</label><input id="f">`+
			`<script>document.title = "inline ran"</script><script src="/boom.js"></script></body>`)
	}))
	defer srv.Close()
	p := New(t)
	p.Expect("Content Security Policy")
	p.Expect("null")
	p.Go(srv.URL + "/")
	p.SeeText("loaded")
	p.Fill("Name", "Ada Lovelace")
	if v := Eval[string](p, `document.getElementById('f').value`); v != "Ada Lovelace" {
		t.Errorf("Fill left %q", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := strings.Join(p.Problems(), "\n")
		if strings.Contains(all, "Content Security Policy") && strings.Contains(all, "null") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("problems seen: %q; want a CSP violation and a script error", p.Problems())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if title := Eval[string](p, `document.title`); title == "inline ran" {
		t.Fatal("the inline script ran despite the CSP")
	}
}
