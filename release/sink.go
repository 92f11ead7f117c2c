package release

import "context"

// Sink receives a cluster's releases as a driver's watch sees them: the
// whole set after each (re)list, then changes, in order, from one goroutine.
// Only the latest revision of each release is reported. It is declared here
// so that drivers and the cache that feeds on them need not import each other.
type Sink interface {
	// Replace is the whole set of releases, after a (re)list.
	Replace(ctx context.Context, rels []Summary) error
	// Upsert is a release whose latest revision appeared or changed.
	Upsert(ctx context.Context, s Summary) error
	// Delete is a release whose last revision is gone.
	Delete(ctx context.Context, ref Ref) error
}
