package clusters

import (
	"context"

	"github.com/helmgraph/helmgraph/release"
)

// Driver reaches one cluster's releases. Implementations live in the
// subpackages helm, tiller and swift and convert their SDK's types into
// release types at their edge.
//
// Errors: a release that does not exist wraps release.ErrNotFound; a cluster
// that cannot be reached (network, TLS, timeout, 5xx) wraps
// release.ErrClusterUnavailable. Every call honours ctx's deadline.
type Driver interface {
	Kind() release.DriverKind
	// List returns the latest revision of every release, whatever its status,
	// in the given namespaces (all namespaces when none are given).
	List(ctx context.Context, namespaces []string) ([]release.Summary, error)
	// Get returns one revision of a release with its heavy fields; revision 0
	// means the latest.
	Get(ctx context.Context, ref release.Ref, revision int) (*release.Release, error)
	// History returns every stored revision of a release, newest first.
	History(ctx context.Context, ref release.Ref) ([]release.Summary, error)
	// Version returns the version of what answers for the cluster (the API
	// server's for helm, Tiller's for tiller and swift).
	Version(ctx context.Context) (string, error)
}
