package clusters

import (
	"context"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// Watcher is a Driver that can feed a cache: it lists the cluster's releases
// once, then streams changes, until ctx ends or the stream fails. Only the
// latest revision of each release is reported.
type Watcher interface {
	Watch(ctx context.Context, sink WatchSink) error
}

// WatchSink receives what a Watcher sees (release.Sink).
type WatchSink = release.Sink

// CachedCluster is what a cache holds for one cluster.
type CachedCluster struct {
	// Synced: Releases reflect the cluster (as of LastSync).
	Synced   bool
	Releases []release.Summary // shared; do not modify
	LastSync time.Time
	// LastError is why the cluster's sync loop is failing, if it is.
	LastError string
	// Holder is the replica watching the cluster.
	Holder string
	// Stale: the data is older than a healthy watch would keep it.
	Stale bool
}

// Source is a cache of the clusters' releases that the Registry answers
// from, once a cluster is synced, instead of asking the cluster.
type Source interface {
	// Cached returns what the cache holds for the named clusters; a cluster
	// absent from the map is read live. An error means the cache cannot be
	// used at all right now.
	Cached(ctx context.Context, names []string) (map[string]CachedCluster, error)
}

// DetailSource is a Source that also keeps what queries decode from a
// cluster: revisions with their heavy fields and release histories, so that
// each is decoded once, then served from the cache. The Registry uses it
// when the Source implements it.
type DetailSource interface {
	Source
	// Detail returns the decoded revision of ref with this number and
	// Updated time, or nil when the cache does not hold it. Do not modify
	// its maps.
	Detail(ctx context.Context, ref release.Ref, revision int, updated time.Time) (*release.Release, error)
	// PutDetail keeps a decoded revision, under its own summary.
	PutDetail(ctx context.Context, rel *release.Release) error
	// History returns the history of latest's release as it was when
	// latest (revision, status and Updated time) was its newest revision,
	// or nil when the cache does not hold it.
	History(ctx context.Context, latest release.Summary) ([]release.Summary, error)
	// PutHistory keeps a history, newest revision first.
	PutHistory(ctx context.Context, hist []release.Summary) error
}

// freshness is how current the data of a cluster was at the last read.
type freshness struct {
	observedAt time.Time
	stale      bool
}

// EventType says what happened to a release.
type EventType string

// ReleaseEvent is a release change as the graph serves it.
type ReleaseEvent struct {
	Kind             EventType
	Release          *Release
	PreviousStatus   *release.Status
	PreviousRevision *int
	ObservedAt       time.Time
	// Err ends the subscription with an error (a subscriber that fell behind).
	Err error
	// Seq identifies the event among those of this replica's Hub (cache.Event.Seq).
	Seq uint64
}

// Type is the kind of change, or the error that ends the subscription.
func (e *ReleaseEvent) Type() (EventType, error) {
	if e.Err != nil {
		return "", e.Err
	}
	return e.Kind, nil
}
