package portal

import (
	"errors"
	"fmt"
)

// Kind classifies a domain error. The GraphQL error presenter maps each
// kind to one extensions.code; anything that is not an *Error is INTERNAL.
type Kind string

const (
	KindUnauthenticated Kind = "UNAUTHENTICATED"
	KindForbidden       Kind = "FORBIDDEN"
	KindNotFound        Kind = "NOT_FOUND"
	KindInvalid         Kind = "BAD_USER_INPUT"
	KindConflict        Kind = "CONFLICT"
	KindRateLimited     Kind = "RATE_LIMITED"
	KindUnavailable     Kind = "UNAVAILABLE"
	KindInternal        Kind = "INTERNAL"
)

// Error is a domain error whose Message is safe to show to the caller.
type Error struct {
	Kind    Kind
	Message string
	// Field names the offending input field for KindInvalid, when known.
	Field string
	// RetryAfterSeconds is set for KindRateLimited.
	RetryAfterSeconds int
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Kind, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

// KindOf returns the kind of err, or KindInternal when err is not a domain error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Errorf builds a domain error of kind k.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a BAD_USER_INPUT error naming the field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Common errors. Compare with errors.Is or KindOf.
var (
	ErrUnauthenticated = &Error{Kind: KindUnauthenticated, Message: "sign in first"}
	ErrForbidden       = &Error{Kind: KindForbidden, Message: "your role does not allow this"}
	ErrNotFound        = &Error{Kind: KindNotFound, Message: "no such user"}
	// ErrUnavailable is returned when the database or session store cannot
	// be reached: requests fail closed and the caller may retry.
	ErrUnavailable = &Error{Kind: KindUnavailable, Message: "the service is temporarily unavailable; try again"}
)
