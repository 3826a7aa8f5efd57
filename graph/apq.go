package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"

	"github.com/clientportal/portal/internal/portal"
)

// persistedQueries stores automatic persisted queries, but only a query
// that parsed and validated, is at most MaxPersistedQueryBytes long, and
// comes from a signed-in session. Anyone may use a stored query by its
// hash; nobody can fill the cache (Redis, shared with the sessions) with
// arbitrary text. A client whose query is not stored just sends it in full.
type persistedQueries struct{ cache graphql.Cache[string] }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = persistedQueries{}

func (persistedQueries) ExtensionName() string                   { return "PersistedQueryStore" }
func (persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation runs after the query was parsed, validated and
// checked, and after sessionLookup found the caller.
func (p persistedQueries) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	st := extension.GetApqStats(ctx)
	if st == nil || !st.SentQuery || len(oc.RawQuery) > MaxPersistedQueryBytes {
		return next(ctx)
	}
	if !portal.ViewerFrom(ctx).SignedIn() {
		return next(ctx)
	}
	p.cache.Add(ctx, st.Hash, oc.RawQuery)
	return next(ctx)
}

// readOnlyCache hands gqlgen's APQ extension lookups but drops its writes.
type readOnlyCache struct{ graphql.Cache[string] }

func (readOnlyCache) Add(context.Context, string, string) {}
