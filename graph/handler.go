package graph

import (
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clientportal/portal/graph/model"
	"github.com/clientportal/portal/internal/portal"
)

// Options configure the GraphQL endpoint.
type Options struct {
	// Dev enables GraphiQL and introspection and field suggestions.
	Dev bool
	// SecureCookies marks the session cookie Secure (production).
	SecureCookies bool
	// CookieMaxAge is the session cookie's lifetime (the session's maximum age).
	CookieMaxAge time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed when finding the client's IP address for throttling.
	TrustedProxies []netip.Prefix
	// APQCache stores automatic persisted queries; nil means in memory.
	APQCache graphql.Cache[string]
	// GenericPages leaves the users root field to gqlgen's generic field
	// resolution instead of pageWriter (tests compare the two).
	GenericPages bool
	Log          *slog.Logger
}

// Limits on what one request may ask for.
const (
	// MaxBodyBytes caps a POST body. Operations of this API are small;
	// the cap also bounds what the parsed-query cache can hold.
	MaxBodyBytes = 64 << 10
	// MaxPersistedQueryBytes caps a query kept as a persisted query.
	MaxPersistedQueryBytes = 8 << 10
	MaxTokens              = 15_000
	MaxComplexity          = 5_000
	MaxDepth               = 10
	MaxRootFields          = 20
	queryCacheEntries      = 1_000
)

// NewHandler returns the GraphQL HTTP handler (for /graphql).
func NewHandler(svc *portal.Service, o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	cfg := Config{Resolvers: &Resolver{Service: svc}}
	cfg.Complexity.Query.Users = func(child int, first *int, _ *string, _ *model.UserFilter, _ *model.UserOrder) int {
		return pageCost(child, first)
	}
	cfg.Complexity.Query.AuditLog = func(child int, first *int, _ *string) int {
		return pageCost(child, first)
	}
	schema := NewExecutableSchema(cfg)
	srv := handler.New(schema)
	if !o.GenericPages {
		srv.AroundRootFields(pageWriter{svc: svc, es: schema.(*executableSchema)}.aroundRootField)
	}
	// JSON POST, and GET for queries only (gqlgen refuses mutations over
	// GET). No multipart or form transports: they would allow CSRF.
	srv.AddTransport(transport.GET{})
	srv.AddTransport(jsonPOST{}) // the usual answer, written without re-compaction
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheEntries))
	apq := o.APQCache
	if apq == nil {
		apq = lru.New[string](queryCacheEntries)
	}
	// gqlgen's extension would store any text with a matching hash before
	// parsing it; it only reads here, and persistedQueries stores.
	srv.Use(extension.AutomaticPersistedQuery{Cache: readOnlyCache{apq}})
	srv.Use(persistedQueries{apq})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	srv.Use(shapeLimit{})
	srv.SetParserTokenLimit(MaxTokens)
	if o.Dev {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	srv.SetErrorPresenter(presentError(o.Log))
	srv.SetRecoverFunc(recoverPanic(o.Log))

	var h http.Handler = srv
	h = authenticate(svc, o, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			// transport.GET answers these itself, without extensions.code.
			if !readableGET(r) {
				refuse(w, http.StatusBadRequest, "the query string or its variables or extensions cannot be read")
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), getRequestKey{}, true))
		case http.MethodPost:
			// Exactly what transport.POST accepts (it refuses the rest without a code).
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				refuse(w, http.StatusUnsupportedMediaType, "send application/json")
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// pageCost is the complexity of a page of first (default 50) elements.
func pageCost(child int, first *int) int {
	n := portal.DefaultPageSize
	if first != nil && *first > 0 {
		n = *first
	}
	return 1 + n*child
}

// refuse answers a request that never reaches GraphQL with a GraphQL-shaped
// BAD_USER_INPUT error.
func refuse(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{
		{"message": message, "extensions": map[string]any{"code": "BAD_USER_INPUT"}}}})
}

// Playground returns the GraphiQL page for endpoint.
func Playground(endpoint string) http.Handler {
	return playground.Handler("Client Portal", endpoint)
}

// shapeLimit refuses operations nested deeper than MaxDepth (introspection
// fields aside) or with more than MaxRootFields top-level fields (aliases
// included), before anything executes.
type shapeLimit struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

func (shapeLimit) ExtensionName() string                   { return "ShapeLimit" }
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (shapeLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if ctx.Value(getRequestKey{}) != nil && oc.Operation.Operation != ast.Query {
		// Refused here, not by transport.GET, so that the error presenter
		// gives it a code; 422 like other invalid operations.
		err := gqlerror.Errorf("GET requests may only run queries; send %s operations by POST", oc.Operation.Operation)
		errcode.Set(err, errcode.ValidationFailed)
		return err
	}
	if n := countFields(oc.Operation.SelectionSet); n > MaxRootFields {
		return gqlerror.Errorf("operation has %d top-level fields; at most %d are allowed", n, MaxRootFields)
	}
	if d := depth(oc.Operation.SelectionSet); d > MaxDepth {
		return gqlerror.Errorf("operation is nested %d levels deep; at most %d are allowed", d, MaxDepth)
	}
	return nil
}

func countFields(set ast.SelectionSet) int {
	n := 0
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			n++
		case *ast.InlineFragment:
			n += countFields(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n += countFields(s.Definition.SelectionSet)
			}
		}
	}
	return n
}

func depth(set ast.SelectionSet) int {
	deepest := 0
	for _, s := range set {
		d := 0
		switch s := s.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = 1 + depth(s.SelectionSet)
		case *ast.InlineFragment:
			d = depth(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = depth(s.Definition.SelectionSet)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// getRequestKey marks the context of a GET request (queries only).
type getRequestKey struct{}

// readableGET reports whether transport.GET can read r's query string,
// variables and extensions (it refuses the others without a code).
func readableGET(r *http.Request) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return false
	}
	for _, k := range []string{"variables", "extensions"} {
		var m map[string]any
		if v := q.Get(k); v != "" && json.Unmarshal([]byte(v), &m) != nil {
			return false
		}
	}
	return true
}
