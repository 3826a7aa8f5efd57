package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/gqlerror"

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
	graphql.OperationContextMutator
} = persistedQueries{}

func (persistedQueries) ExtensionName() string                   { return "PersistedQueryStore" }
func (persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext runs after the query was parsed and validated.
func (p persistedQueries) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	st := extension.GetApqStats(graphql.WithOperationContext(ctx, oc))
	if st == nil || !st.SentQuery || len(oc.RawQuery) > MaxPersistedQueryBytes {
		return nil
	}
	if !portal.ViewerFrom(ctx).SignedIn() {
		return nil
	}
	p.cache.Add(ctx, st.Hash, oc.RawQuery)
	return nil
}

// readOnlyCache hands gqlgen's APQ extension lookups but drops its writes.
type readOnlyCache struct{ graphql.Cache[string] }

func (readOnlyCache) Add(context.Context, string, string) {}
