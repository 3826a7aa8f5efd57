package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clientportal/portal/internal/portal"
)

// codeUnavailable is the contract's code for an unreachable dependency;
// the transport answers it with 503 and Retry-After.
const codeUnavailable = "SERVICE_UNAVAILABLE"

// codeOf maps a domain error kind to the contract's extensions.code.
var codeOf = map[portal.Kind]string{
	portal.KindUnauthenticated: "UNAUTHENTICATED",
	portal.KindForbidden:       "FORBIDDEN",
	portal.KindNotFound:        "NOT_FOUND",
	portal.KindInvalid:         "BAD_USER_INPUT",
	portal.KindConflict:        "CONFLICT",
	portal.KindRateLimited:     "RATE_LIMITED",
	portal.KindUnavailable:     codeUnavailable,
	portal.KindInternal:        "INTERNAL",
}

// presentError turns any error into a GraphQL error that is safe to show:
// domain errors keep their message and get their code; errors of the
// GraphQL document itself (syntax, validation, variables) are
// BAD_USER_INPUT; anything else is logged with an id and shown as INTERNAL.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var de *portal.Error
		if errors.As(err, &de) {
			gqlErr.Message = de.Message
			gqlErr.Extensions = map[string]any{"code": codeOf[de.Kind]}
			if de.Field != "" {
				gqlErr.Extensions["field"] = de.Field
			}
			if de.Kind == portal.KindRateLimited {
				gqlErr.Extensions["retryAfterSeconds"] = de.RetryAfterSeconds
			}
			return gqlErr
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil {
			// Raised by gqlgen about the request (parse, validation,
			// variable coercion, limits): its text describes the query.
			// An unknown persisted query keeps the code Apollo clients
			// look for, so they send the query in full.
			code := "BAD_USER_INPUT"
			if c, _ := ge.Extensions["code"].(string); c == codePersistedQueryNotFound || c == codeUnavailable {
				code = c
			}
			gqlErr.Extensions = map[string]any{"code": code}
			return gqlErr
		}
		id := requestID()
		log.ErrorContext(ctx, "internal error", "error_id", id, "path", gqlErr.Path.String(), "err", err)
		gqlErr.Message = fmt.Sprintf("internal error (id %s)", id)
		gqlErr.Extensions = map[string]any{"code": "INTERNAL"}
		return gqlErr
	}
}

// recoverPanic logs a resolver panic with its stack and answers INTERNAL.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		id := requestID()
		log.ErrorContext(ctx, "panic in resolver", "error_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return &portal.Error{Kind: portal.KindInternal, Message: fmt.Sprintf("internal error (id %s)", id)}
	}
}

// codePersistedQueryNotFound is Apollo's code for an unknown APQ hash.
const codePersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND"

// unavailableError is the answer when a dependency cannot be reached
// before anything ran.
func unavailableError() *gqlerror.Error {
	return &gqlerror.Error{Message: portal.ErrUnavailable.Message, Extensions: map[string]any{"code": codeUnavailable}}
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
