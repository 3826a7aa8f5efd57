// Package graph is the GraphQL adapter: the gqlgen handler, thin
// resolvers, the error presenter and the session middleware. It holds no
// rules: every resolver calls one method of the permission service.
package graph

import "github.com/clientportal/portal/internal/portal"

//go:generate go tool gqlgen generate

// Resolver holds the resolvers' dependencies.
type Resolver struct {
	Service *portal.Service
}
