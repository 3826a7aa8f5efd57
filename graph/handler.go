package graph

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

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
	// Dependencies, when set, turns requests away with 503 while the
	// database or session store is known to be down.
	Dependencies Dependencies
	Log          *slog.Logger
}

// Limits on what one request may ask for.
const (
	// MaxBodyBytes caps a POST body. Operations of this API are small;
	// the cap also bounds what the parsed-query cache can hold.
	MaxBodyBytes = 64 << 10
	// MaxPersistedQueryBytes caps a query kept as a persisted query.
	MaxPersistedQueryBytes = 8 << 10
	// MaxTokens caps the parser: parsing costs about 0.5 µs of CPU per token.
	MaxTokens         = 5_000
	MaxComplexity     = 5_000
	MaxDepth          = 10
	MaxRootFields     = 20
	queryCacheEntries = 1_000
)

// Dependencies is what the handler knows of the database and the session
// store: whether one is known to be unreachable now (then every request is
// answered 503 at once, without waiting for a timeout) and a way to say
// that a request just found one unreachable.
type Dependencies interface {
	Down() bool
	Suspect()
}

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
	es := NewExecutableSchema(cfg)
	srv := handler.New(es)
	// JSON POST, and GET for queries only. No multipart or form
	// transports: they would allow CSRF.
	srv.AddTransport(httpTransport{deps: o.Dependencies})
	queries := lru.New[*ast.QueryDocument](queryCacheEntries)
	srv.SetQueryCache(queries)
	apq := o.APQCache
	if apq == nil {
		apq = lru.New[string](queryCacheEntries)
	}
	// gqlgen's extension would store any text with a matching hash before
	// parsing it; it only reads here, and persistedQueries stores.
	srv.Use(extension.AutomaticPersistedQuery{Cache: readOnlyCache{apq}})
	// Before the parser and validator of gqlgen see the document.
	srv.Use(documentLimits{schema: es.Schema(), cache: queries, introspection: o.Dev})
	srv.Use(shapeLimit{})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	// The session is looked up only for an operation that passed every
	// check above, right before it runs.
	srv.Use(sessionLookup{svc: svc})
	srv.Use(persistedQueries{apq})
	srv.SetParserTokenLimit(MaxTokens)
	if o.Dev {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
		srv.SetValidationRulesFn(rulesWithoutSuggestions)
	}
	srv.SetErrorPresenter(presentError(o.Log))
	srv.SetRecoverFunc(recoverPanic(o.Log))

	var h http.Handler = srv
	h = authenticate(svc, o, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost:
			// Exactly what the transport accepts.
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				refuse(w, r, http.StatusUnsupportedMediaType, "send application/json")
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			refuse(w, r, http.StatusMethodNotAllowed, "use POST, or GET for queries")
			return
		}
		if o.Dependencies != nil && o.Dependencies.Down() {
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
			writeError(w, r, http.StatusServiceUnavailable, portal.ErrUnavailable.Message, codeUnavailable)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// rulesWithoutSuggestions are gqlparser's validation rules with none that
// suggests names ("Did you mean ...?"): production tells nothing of the
// schema. (gqlgen's SetDisableSuggestion swaps the first two as well.)
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, rule := range []struct {
		old string
		new core.Rule
	}{
		{rules.FieldsOnCorrectTypeRule.Name, rules.FieldsOnCorrectTypeRuleWithoutSuggestions},
		{rules.ScalarLeafsRule.Name, rules.ScalarLeafsRuleWithoutSuggestions},
		{rules.KnownArgumentNamesRule.Name, rules.KnownArgumentNamesRuleWithoutSuggestions},
		{rules.KnownTypeNamesRule.Name, rules.KnownTypeNamesRuleWithoutSuggestions},
		{rules.ValuesOfCorrectTypeRule.Name, rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
	} {
		r.RemoveRule(rule.old)
		r.AddRule(rule.new.Name, rule.new.RuleFunc)
	}
	return r
}

// pageCost is the complexity of a page of first (default 50) elements.
func pageCost(child int, first *int) int {
	n := portal.DefaultPageSize
	if first != nil && *first > 0 {
		n = *first
	}
	return 1 + n*child
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
	c := shapeOf(oc.Operation.SelectionSet, map[string]*shapeCounts{})
	if c.fields > MaxRootFields {
		return gqlerror.Errorf("operation has %d top-level fields; at most %d are allowed", c.fields, MaxRootFields)
	}
	if c.depth > MaxDepth {
		return gqlerror.Errorf("operation is nested %d levels deep; at most %d are allowed", c.depth, MaxDepth)
	}
	return nil
}
