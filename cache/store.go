package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// SyncState is where a cluster's sync loop stands, as every replica sees it.
type SyncState struct {
	// Synced is true once a full list of the cluster has been stored: from
	// then on the cached releases answer queries.
	Synced bool `json:"synced"`
	// LastSync is when the cache was last known to match the cluster: the
	// last list, watch event or heartbeat of a healthy watch.
	LastSync time.Time `json:"lastSync"`
	// LastError is why the last list or watch failed; empty while healthy.
	LastError string `json:"lastError,omitempty"`
	// Holder names the replica whose sync loop holds the cluster's lease.
	Holder string `json:"holder,omitempty"`
}

// Snapshot is what the Store holds for one cluster.
type Snapshot struct {
	State SyncState
	// Releases are the latest revision of each release. The slice is shared
	// between callers and must not be modified.
	Releases []release.Summary
}

// Store holds release summaries and sync states per cluster, and the
// decoded revisions and histories that queries read through it. Writes of
// summaries and states of one cluster come from the single sync loop holding
// its lease; details are written by whichever replica decoded them.
type Store interface {
	// Replace sets a cluster's whole release set and state, as after a list.
	Replace(ctx context.Context, cluster string, rels []release.Summary, st SyncState) error
	// Put stores the latest revision of one release.
	Put(ctx context.Context, s release.Summary) error
	// Delete forgets a release.
	Delete(ctx context.Context, ref release.Ref) error
	// SetState records a cluster's sync state.
	SetState(ctx context.Context, cluster string, st SyncState) error
	// Snapshot returns what is stored for each named cluster; clusters the
	// Store knows nothing about are absent from the map.
	Snapshot(ctx context.Context, clusters []string) (map[string]Snapshot, error)
	// Ping reports whether the Store can be used.
	Ping(ctx context.Context) error

	// GetDetail returns the decoded revision stored by PutDetail under
	// (ref, revision, updated), or nil on a miss. Its fields, maps
	// included, may be shared with other callers: do not modify them.
	GetDetail(ctx context.Context, ref release.Ref, revision int, updated time.Time) (*release.Release, error)
	// PutDetail stores a decoded revision under its own summary's ref,
	// revision and Updated time, unless it is too large (the Store's cap)
	// or has no Updated time. It may be evicted or expire at any time.
	PutDetail(ctx context.Context, rel *release.Release) error
	// GetHistory returns the history stored by PutHistory whose newest
	// revision was latest (same ref, revision, status and Updated time), or
	// nil on a miss. Do not modify it.
	GetHistory(ctx context.Context, latest release.Summary) ([]release.Summary, error)
	// PutHistory stores a release's history, newest revision first, under
	// its newest revision (hist[0]), with the same caps as PutDetail.
	PutHistory(ctx context.Context, hist []release.Summary) error
}

// The detail caches' defaults: a decoded revision or history larger than
// DefaultDetailMaxBytes (as JSON) is not stored, the memory Backend keeps
// DefaultDetailTotalBytes of them at most, and Redis forgets each after
// DefaultDetailTTL.
const (
	DefaultDetailMaxBytes   = 4 << 20
	DefaultDetailTotalBytes = 64 << 20
	DefaultDetailTTL        = time.Hour
)

// DetailKey names a decoded revision in a Store: a revision number reused
// after an uninstall and a new install has another Updated time (Helm sets
// it when the revision is created, never on a status change), so it names
// another entry.
func DetailKey(ref release.Ref, revision int, updated time.Time) string {
	return fmt.Sprintf("detail:%s:%s/%s:%d:%d", ref.Cluster, ref.Namespace, ref.Name, revision, updated.UnixNano())
}

// HistoryKey names a release's history by its newest revision: older
// revisions change only when a newer one arrives (a rollback or upgrade
// supersedes them), and the newest one's status is part of the key.
func HistoryKey(latest release.Summary) string {
	ref := latest.Ref
	return fmt.Sprintf("history:%s:%s/%s:%d:%s:%d", ref.Cluster, ref.Namespace, ref.Name, latest.Revision, latest.Status, latest.Updated.UnixNano())
}

// Cacheable reports whether a revision with this summary can be keyed:
// a summary made from storage labels alone (payload undecodable) has no
// Updated time to tell a reused revision number apart.
func Cacheable(s release.Summary) bool { return !s.Updated.IsZero() && s.Revision > 0 }

// EventType says what happened to a release.
type EventType string

const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
)

// Event is a change of a release's latest revision: a new release, a new
// revision or a new status, or its removal.
type Event struct {
	Type EventType `json:"type"`
	// Release is the release after the change (before it, for DELETED).
	Release release.Summary `json:"release"`
	// PreviousStatus and PreviousRevision are what the release was before
	// the change; empty for ADDED.
	PreviousStatus   release.Status `json:"previousStatus,omitempty"`
	PreviousRevision int            `json:"previousRevision,omitempty"`
	// ObservedAt is when the sync loop saw the change.
	ObservedAt time.Time `json:"observedAt"`
	// Seq numbers the events a Hub delivered, so that what is computed
	// for one event can be shared by its subscribers; local to the Hub.
	Seq uint64 `json:"-"`
}

// Bus carries events to every replica.
type Bus interface {
	Publish(ctx context.Context, ev Event) error
	// Subscribe delivers every event published from now on, by any replica,
	// until ctx ends; the channel is closed then, or when the Bus loses its
	// connection (subscribe again).
	Subscribe(ctx context.Context) (<-chan Event, error)
}

// Leases gives each cluster's watch to one replica at a time.
type Leases interface {
	// Acquire takes the named lease for holder, or renews it if holder has
	// it, for ttl. It reports false when another holder has it.
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// Release gives the lease up if holder has it.
	Release(ctx context.Context, name, holder string) error
}

// Records keeps small opaque records by kind and name, shared by every
// replica: the sealed (encrypted) repositories added at runtime, so that
// their credentials are never stored in clear and every replica knows them.
type Records interface {
	SaveRecord(ctx context.Context, kind, name string, data []byte) error
	DeleteRecord(ctx context.Context, kind, name string) error
	// LoadRecords returns every record of a kind, by name.
	LoadRecords(ctx context.Context, kind string) (map[string][]byte, error)
}

// Backend is a complete cache implementation: memory.New or redis.New.
type Backend interface {
	Store
	Bus
	Leases
	Records
	Close() error
}

// ErrUnavailable wraps errors of a Backend that cannot be reached.
var ErrUnavailable = errors.New("cache unavailable")
