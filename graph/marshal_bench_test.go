package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/clientportal/portal/internal/portal"
)

// BenchmarkMarshalUserList measures gqlgen's list marshalling for a page of
// 50 users at different worker limits (gqlgen.yml exec.worker_limit; 0 is
// one goroutine per element). Two element costs: plain fields, and fields
// that go through a dataloader (invitedBy), whose batching needs the
// elements to resolve concurrently. Compare ns/op between the limits of
// one element kind: they all run in this one benchmark.
func BenchmarkMarshalUserList(b *testing.B) {
	now := time.Now()
	u := &portal.User{ID: "01a202ef-70f4-7877-b146-17014f9f8003", Name: "Ann Example", Email: "ann@example.com",
		Role: "ADMIN", Status: portal.StatusActive, CreatedAt: now, LastActiveAt: &now}
	plain := func(context.Context, int) graphql.Marshaler {
		return graphql.WriterFunc(func(w io.Writer) { _ = json.NewEncoder(w).Encode(u) })
	}
	for _, limit := range []int64{0, 1, 2, 4} {
		b.Run(fmt.Sprintf("plain/limit=%d", limit), func(b *testing.B) {
			ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{})
			for b.Loop() {
				arr := graphql.MarshalSliceConcurrently(ctx, 50, limit, false, plain)
				arr.MarshalGQL(io.Discard)
			}
		})
	}
	for _, limit := range []int64{0, 4, 1} {
		b.Run(fmt.Sprintf("dataloader/limit=%d", limit), func(b *testing.B) {
			ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{})
			for b.Loop() {
				loader := dataloadgen.NewLoader(func(_ context.Context, ids []int) ([]*portal.User, []error) {
					out := make([]*portal.User, len(ids))
					for i := range ids {
						out[i] = u
					}
					return out, nil
				}, dataloadgen.WithWait(time.Millisecond))
				arr := graphql.MarshalSliceConcurrently(ctx, 50, limit, false, func(ctx context.Context, i int) graphql.Marshaler {
					inviter, _ := loader.Load(ctx, i%5)
					return graphql.MarshalString(inviter.Name)
				})
				arr.MarshalGQL(io.Discard)
			}
		})
	}
}
