// Package console is the reference web console: the user-management screen
// of the seeds, served by the binary itself so that people (not only API
// consumers) can use the product with nothing else installed, and so that
// the links in emails land on a page.
//
// It owns the embedded frontend and nothing else. The frontend has no build
// step: web/ is what is embedded and served (Preact + htm vendored as one ES
// module from npm, see web/assets/vendor/README.md). It is a client of the
// public GraphQL API like any other: it calls /graphql on the same origin
// with the session cookie, and what it needs is in the schema.
package console

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed web/index.html web/assets
var files embed.FS

// pages are the paths that serve the console's page. The two token pages
// read their token from the URL fragment, which never reaches the server.
var pages = []string{"/", "/accept-invitation", "/reset-password"}

// CSP is the console's Content-Security-Policy: scripts, styles and the
// API from this origin only (no inline script or style), images from this
// origin or data: URLs (the 2FA QR code), and no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options are the server settings the console shows to people.
type Options struct {
	// IdleTimeout is the session idle timeout: the console shows it and
	// signs out when it has passed without a request.
	IdleTimeout time.Duration
	// RoleChangeImmediate is PORTAL_ROLE_CHANGE=immediate: the role-change
	// confirmation then says that a demotion applies at once.
	RoleChangeImmediate bool
}

// Handler serves the console: its page at each of pages and its files
// under /assets/. Every answer carries the strict security headers.
func Handler(o Options) http.Handler {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	tmpl := template.Must(template.ParseFS(files, "web/index.html"))
	mode := "next-login"
	if o.RoleChangeImmediate {
		mode = "immediate"
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, map[string]any{"IdleSeconds": int(o.IdleTimeout / time.Second), "RoleChange": mode}); err != nil {
		panic(err) // a fixed template and fixed data
	}
	sub, err := fs.Sub(files, "web")
	if err != nil {
		panic(err)
	}
	assets := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SecurityHeaders(w.Header(), CSP)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch {
		case isPage(r.URL.Path):
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(page.Bytes())
		case strings.HasPrefix(r.URL.Path, "/assets/") && !strings.HasSuffix(r.URL.Path, "/"):
			// Small files: revalidated on each load, so an upgrade shows at once.
			w.Header().Set("Cache-Control", "no-cache")
			assets.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

func isPage(p string) bool {
	for _, q := range pages {
		if p == q {
			return true
		}
	}
	return false
}

// SecurityHeaders sets the headers every browser-facing answer carries:
// csp, no MIME sniffing, no referrer (the token pages carry tokens in
// their URL fragment), and no framing.
func SecurityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
