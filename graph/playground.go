package graph

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql/playground"
)

// graphiqlFiles are GraphiQL 4.1.2 and React/ReactDOM 18.2.0, the UMD
// builds from npm, unmodified (so their SRI hashes are upstream's): the
// playground works on a machine without internet.
//
//go:embed graphiql/*.js graphiql/*.css
var graphiqlFiles embed.FS

// playgroundAssets is where Playground serves graphiqlFiles, under its page.
const playgroundAssets = "/graphiql/assets/"

// Playground returns the GraphiQL page for endpoint (at any path) and its
// assets (at /graphiql/assets/NAME). gqlgen's page is used as it is, with
// every asset URL pointed at the binary; its inline script and style are
// allowed by their hashes, so the Content-Security-Policy stays strict:
// nothing but this origin is reachable.
func Playground(endpoint string) http.Handler {
	sri := func(name string) string {
		b, err := graphiqlFiles.ReadFile("graphiql/" + name)
		if err != nil {
			panic(err) // embedded above
		}
		sum := sha256.Sum256(b)
		return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
	}
	page := playground.Handler("Client Portal", endpoint,
		playground.WithGraphiqlVersion(playgroundAssets+"graphiql.min.js", playgroundAssets+"graphiql.min.css",
			sri("graphiql.min.js"), sri("graphiql.min.css")),
		playground.WithGraphiqlReactVersion(playgroundAssets+"react.production.min.js", playgroundAssets+"react-dom.production.min.js",
			sri("react.production.min.js"), sri("react-dom.production.min.js")),
		playground.WithGraphiqlEnablePluginExplorer(false),
		playground.WithStoragePrefix("portal:"))
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphiql", nil))
	body := rec.Body.Bytes()
	csp := "default-src 'none'; script-src 'self'" + inlineHashes(body, "script") +
		"; style-src 'self'" + inlineHashes(body, "style") +
		"; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	assets := http.StripPrefix(playgroundAssets, http.FileServerFS(mustSub(graphiqlFiles, "graphiql")))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if strings.HasPrefix(r.URL.Path, playgroundAssets) {
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("Cache-Control", "public, max-age=86400")
			assets.ServeHTTP(w, r)
			return
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
}

// inlineHashes returns " 'sha256-...'" for each inline element named tag
// (one without a src attribute) in page.
func inlineHashes(page []byte, tag string) string {
	re := regexp.MustCompile(`(?s)<` + tag + `(\s[^>]*)?>(.*?)</` + tag + `>`)
	var b strings.Builder
	for _, m := range re.FindAllSubmatch(page, -1) {
		if bytes.Contains(m[1], []byte("src=")) {
			continue
		}
		sum := sha256.Sum256(m[2])
		b.WriteString(" 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'")
	}
	return b.String()
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
