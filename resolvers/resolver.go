// Package resolvers answers the GraphQL schema. Resolvers stay thin: they
// parse arguments, call the clusters Registry and map results; the logic
// lives in clusters and release.
package resolvers

import (
	"log/slog"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/ops"
)

// Resolver holds the dependencies of every resolver.
type Resolver struct {
	Registry *clusters.Registry
	Log      *slog.Logger
	// Events streams release events to subscribers; nil when no cache runs.
	Events *cache.Hub
	// Ops runs and tracks mutations; Charts resolves the charts they install.
	Ops    *ops.Manager
	Charts *charts.Registry
	// Auth authorizes every request before any driver call; nil allows all.
	Auth Authorizer
}
