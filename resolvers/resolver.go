// Package resolvers answers the GraphQL schema. Resolvers stay thin: they
// parse arguments, call the clusters Registry and map results; the logic
// lives in clusters and release.
package resolvers

import (
	"log/slog"

	"github.com/helmgraph/helmgraph/clusters"
)

// Resolver holds the dependencies of every resolver.
type Resolver struct {
	Registry *clusters.Registry
	Log      *slog.Logger
}
