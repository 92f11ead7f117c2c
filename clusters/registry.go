package clusters

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/release"
)

// Cluster is one configured cluster and the driver that reaches it.
type Cluster struct {
	Config Config
	Driver Driver
	Log    *slog.Logger
	// imp builds drivers that act as the caller (Config.Impersonate).
	imp *impersonator
	// review checks the caller's access before mutations of drivers that
	// cannot impersonate (Config.Impersonate on tiller and swift).
	review *callerReview
}

// Registry holds every configured cluster and fans calls out to them.
type Registry struct {
	clusters    []*Cluster
	byName      map[string]*Cluster
	parallelism int

	// source, when set, answers reads of synced clusters from a cache.
	source Source
	// fresh holds each cluster's freshness as of its last read (freshness).
	fresh sync.Map
	// cacheWarned is when (UnixNano) an unavailable cache was last logged.
	cacheWarned atomic.Int64
}

// SetSource makes the registry answer from a cache once a cluster is
// synced. Call it before serving.
func (r *Registry) SetSource(s Source) { r.source = s }

// cached asks the source, if any, about the named clusters. A cache that
// cannot answer is logged and skipped: the clusters are read live.
func (r *Registry) cached(ctx context.Context, cs []*Cluster) map[string]CachedCluster {
	if r.source == nil {
		return nil
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Config.Name
	}
	m, err := r.source.Cached(ctx, names)
	if err != nil {
		// Once a minute at most: every query says the same while it lasts.
		if last := r.cacheWarned.Load(); time.Since(time.Unix(0, last)) > time.Minute && r.cacheWarned.CompareAndSwap(last, time.Now().UnixNano()) {
			slog.Warn("release cache unavailable; reading clusters live until it returns", "err", err)
		}
		return nil
	}
	return m
}

func (r *Registry) observed(cluster string, f freshness) { r.fresh.Store(cluster, f) }

func (r *Registry) freshness(cluster string) freshness {
	if f, ok := r.fresh.Load(cluster); ok {
		return f.(freshness)
	}
	return freshness{observedAt: time.Now()}
}

// DefaultParallelism bounds how many clusters are asked at once.
const DefaultParallelism = 16

// Open validates the configs and builds a driver for each cluster. Building
// a driver does not contact the cluster, so an unreachable cluster does not
// stop helmgraph from starting.
func Open(cfgs []Config, log *slog.Logger) (*Registry, error) {
	if err := Validate(cfgs); err != nil {
		return nil, err
	}
	var cs []*Cluster
	for _, c := range cfgs {
		clog := log.With("cluster", c.Name)
		rc, err := c.RESTConfig()
		if err != nil {
			return nil, err
		}
		var d Driver
		switch c.Driver {
		case "helm":
			d, err = helm.New(helm.Config{Cluster: c.Name, REST: rc, Storage: c.Storage, Logger: clog})
		case "tiller":
			d, err = tillerDriver(c, rc, clog)
		case "swift":
			d, err = swiftDriver(c, rc, clog)
		default:
			err = fmt.Errorf("clusters: unknown driver %q", c.Driver)
		}
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", c.Name, err)
		}
		cl := &Cluster{Config: c, Driver: d, Log: clog}
		if c.Impersonate && c.Driver == "helm" {
			cl.imp = newImpersonator(c, rc, clog)
		} else if c.Impersonate {
			if cl.review, err = newCallerReview(c, rc); err != nil {
				return nil, fmt.Errorf("cluster %q: %w", c.Name, err)
			}
		}
		cs = append(cs, cl)
	}
	return NewRegistry(cs), nil
}

// NewRegistry makes a registry of already built clusters.
func NewRegistry(cs []*Cluster) *Registry {
	r := &Registry{byName: map[string]*Cluster{}, parallelism: DefaultParallelism}
	for _, c := range cs {
		r.clusters = append(r.clusters, c)
		r.byName[c.Config.Name] = c
	}
	return r
}

// Names lists the configured clusters in configuration order.
func (r *Registry) Names() []string {
	out := make([]string, len(r.clusters))
	for i, c := range r.clusters {
		out[i] = c.Config.Name
	}
	return out
}

// Cluster returns the named cluster.
func (r *Registry) Cluster(name string) (*Cluster, error) {
	c, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: cluster %q is not configured", release.ErrNotFound, name)
	}
	return c, nil
}

// call runs fn against the cluster with the cluster's timeout and turns
// anything that is not a known outcome into ErrClusterUnavailable.
func (c *Cluster) call(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.Config.timeout())
	defer cancel()
	err := fn(ctx)
	if err == nil {
		return nil
	}
	for _, known := range []error{release.ErrNotFound, release.ErrInvalidArgument, release.ErrClusterUnavailable, release.ErrForbidden, release.ErrConflict} {
		if errors.Is(err, known) {
			return err
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: cluster %q did not answer within %s", release.ErrClusterUnavailable, c.Config.Name, c.Config.timeout())
	}
	return fmt.Errorf("%w: cluster %q: %v", release.ErrClusterUnavailable, c.Config.Name, err)
}

// ClusterError is a cluster that did not answer a fleet-wide call.
type ClusterError struct {
	Cluster string
	Code    string
	Message string
	Err     error `json:"-"`
}

func newClusterError(name string, err error) ClusterError {
	return ClusterError{Cluster: name, Code: release.ErrorCode(err), Message: err.Error(), Err: err}
}

// each runs fn for the given clusters in parallel, at most r.parallelism at once.
func (r *Registry) each(cs []*Cluster, fn func(i int, c *Cluster)) {
	sem := make(chan struct{}, r.parallelism)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i, c)
		}()
	}
	wg.Wait()
}

func (r *Registry) selected(names []string) []*Cluster {
	if len(names) == 0 {
		return r.clusters
	}
	var out []*Cluster
	for _, c := range r.clusters {
		if slices.Contains(names, c.Config.Name) {
			out = append(out, c)
		}
	}
	return out
}

// List asks the selected clusters (all when names is empty) for the latest
// revision of every release in the given namespaces, in parallel. Clusters
// that fail are reported, not fatal.
func (r *Registry) List(ctx context.Context, names, namespaces []string) ([]release.Summary, []ClusterError) {
	parts, cerrs := r.listParts(ctx, names, namespaces)
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	all := make([]release.Summary, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	return all, cerrs
}

// listParts is List without merging: one slice per cluster that answered,
// which may be the cache's own and must not be modified.
func (r *Registry) listParts(ctx context.Context, names, namespaces []string) ([][]release.Summary, []ClusterError) {
	cs := r.selected(names)
	results := make([][]release.Summary, len(cs))
	errs := make([]error, len(cs))
	// partial: releases of the cluster were left out (beside results).
	partial := make([]error, len(cs))
	cached := r.cached(ctx, cs)
	id, caller := auth.FromContext(ctx)
	// ask: clusters read live, and cached ones whose RBAC must cut the list.
	var ask []*Cluster
	var askIdx []int
	fromCache := make([]bool, len(cs))
	for i, c := range cs {
		if cc, ok := cached[c.Config.Name]; ok && cc.Synced {
			results[i], fromCache[i] = filterNamespaces(cc.Releases, namespaces), true
			r.observed(c.Config.Name, freshness{observedAt: cc.LastSync, stale: cc.Stale})
			if c.imp == nil || !caller || len(results[i]) == 0 {
				continue
			}
		}
		ask, askIdx = append(ask, c), append(askIdx, i)
	}
	r.each(ask, func(j int, c *Cluster) {
		i := askIdx[j]
		if fromCache[i] {
			// The cache read with helmgraph's credentials: show the caller
			// what the cluster's RBAC would have let them list.
			results[i], partial[i] = c.imp.access.listable(ctx, id, results[i])
			return
		}
		defer r.observed(c.Config.Name, freshness{observedAt: time.Now()})
		errs[i] = c.call(ctx, func(ctx context.Context) error {
			var err error
			results[i], err = c.driver(ctx).List(ctx, namespaces)
			return err
		})
	})
	var parts [][]release.Summary
	var cerrs []ClusterError
	for i, c := range cs {
		if err := cmp.Or(errs[i], partial[i]); err != nil {
			c.Log.Warn("list releases failed", "err", err)
			cerrs = append(cerrs, newClusterError(c.Config.Name, err))
		}
		if errs[i] == nil {
			parts = append(parts, results[i])
		}
	}
	return parts, cerrs
}

// filterNamespaces keeps the releases in namespaces (all when none given),
// without modifying rels.
func filterNamespaces(rels []release.Summary, namespaces []string) []release.Summary {
	if len(namespaces) == 0 {
		return rels
	}
	var out []release.Summary
	for _, s := range rels {
		if slices.Contains(namespaces, s.Ref.Namespace) {
			out = append(out, s)
		}
	}
	return out
}

// Get returns one revision (0 = latest) of a release with its heavy fields.
func (r *Registry) Get(ctx context.Context, ref release.Ref, revision int) (*release.Release, error) {
	c, err := r.Cluster(ref.Cluster)
	if err != nil {
		return nil, err
	}
	// A synced cache knows the latest revision: fetch just that one object
	// rather than list the release's history, or serve it decoded. Another
	// revision's Updated time is not known here: it is read live.
	if cc, ok := r.synced(ctx, c); ok {
		if s, ok := latest(cc, ref); ok && (revision == 0 || revision == s.Revision) {
			return r.revision(ctx, c, s, true)
		}
	}
	return r.fetch(ctx, c, ref, revision)
}

// detail returns the revision s summarises with its heavy fields, from the
// detail cache when the cluster's summaries are current.
func (r *Registry) detail(ctx context.Context, s release.Summary) (*release.Release, error) {
	c, err := r.Cluster(s.Ref.Cluster)
	if err != nil {
		return nil, err
	}
	usable := false
	if r.details(c) != nil {
		_, usable = r.synced(ctx, c)
	}
	return r.revision(ctx, c, s, usable)
}

// revision returns the revision s summarises: when useCache, from the
// detail cache, or from the driver and then stored there. A cache that
// fails is logged and skipped, never fatal. The answer carries s, the
// cache's current summary: a payload decoded earlier may have an older
// status or description of the same revision.
func (r *Registry) revision(ctx context.Context, c *Cluster, s release.Summary, useCache bool) (*release.Release, error) {
	ds := r.details(c)
	if ds == nil || !useCache || s.Updated.IsZero() {
		return r.fetch(ctx, c, s.Ref, s.Revision)
	}
	switch rel, err := ds.Detail(ctx, s.Ref, s.Revision, s.Updated); {
	case err != nil:
		c.Log.Debug("detail cache unavailable; reading the cluster", "release", s.Ref.String(), "revision", s.Revision, "err", err)
	case rel != nil:
		cp := *rel
		cp.Summary = s
		return &cp, nil
	}
	rel, err := r.fetch(ctx, c, s.Ref, s.Revision)
	if err != nil {
		return nil, err
	}
	if err := ds.PutDetail(ctx, rel); err != nil {
		c.Log.Debug("detail cache unavailable; revision not stored", "release", s.Ref.String(), "revision", s.Revision, "err", err)
	}
	return rel, nil
}

// fetch asks the cluster for a revision (0 = latest).
func (r *Registry) fetch(ctx context.Context, c *Cluster, ref release.Ref, revision int) (*release.Release, error) {
	var rel *release.Release
	err := c.call(ctx, func(ctx context.Context) error {
		var err error
		rel, err = c.driver(ctx).Get(ctx, ref, revision)
		return err
	})
	return rel, err
}

// History returns every revision of a release, newest first: from the
// cache while the release's newest revision is the one it was stored with.
func (r *Registry) History(ctx context.Context, ref release.Ref) ([]release.Summary, error) {
	c, err := r.Cluster(ref.Cluster)
	if err != nil {
		return nil, err
	}
	ds := r.details(c)
	if ds == nil {
		return r.fetchHistory(ctx, c, ref)
	}
	cc, ok := r.synced(ctx, c)
	s, found := latest(cc, ref)
	if !ok || !found || s.Updated.IsZero() {
		return r.fetchHistory(ctx, c, ref)
	}
	switch hist, err := ds.History(ctx, s); {
	case err != nil:
		c.Log.Debug("detail cache unavailable; reading the cluster", "release", ref.String(), "err", err)
	case len(hist) > 0:
		hist = slices.Clone(hist)
		hist[0] = s // the current description of the same revision and status
		return hist, nil
	}
	hist, err := r.fetchHistory(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	if err := ds.PutHistory(ctx, hist); err != nil {
		c.Log.Debug("detail cache unavailable; history not stored", "release", ref.String(), "err", err)
	}
	return hist, nil
}

func (r *Registry) fetchHistory(ctx context.Context, c *Cluster, ref release.Ref) ([]release.Summary, error) {
	var hist []release.Summary
	err := c.call(ctx, func(ctx context.Context) error {
		var err error
		hist, err = c.driver(ctx).History(ctx, ref)
		return err
	})
	return hist, err
}

// synced returns what the cache holds for c, and whether that is current:
// c is synced and not stale.
func (r *Registry) synced(ctx context.Context, c *Cluster) (CachedCluster, bool) {
	cc, ok := r.cached(ctx, []*Cluster{c})[c.Config.Name]
	return cc, ok && cc.Synced && !cc.Stale
}

// latest finds ref's newest revision among the cached summaries.
func latest(cc CachedCluster, ref release.Ref) (release.Summary, bool) {
	for _, s := range cc.Releases {
		if s.Ref == ref {
			return s, true
		}
	}
	return release.Summary{}, false
}

// details returns the cache of decoded revisions and histories, if the
// source keeps one and c may use it. A cluster that impersonates reads
// details and histories as the caller, so that the cluster's RBAC decides
// what each caller may read; an entry stored for one caller would answer
// another without the cluster being asked, so such clusters never use it.
func (r *Registry) details(c *Cluster) DetailSource {
	if ds, ok := r.source.(DetailSource); ok && !c.Config.Impersonate {
		return ds
	}
	return nil
}

// Status is what a cluster answered when asked just now.
type Status struct {
	Name   string
	Driver release.DriverKind
	// Transport is how the driver reaches the cluster: "api-server" for
	// helm, "direct", "port-forward" or "service-proxy" for tiller and swift.
	Transport     string
	ServerVersion *string
	Reachable     bool
	LastError     *string
	ReleaseCount  *int
	CheckedAt     time.Time
	// Sync state of the cluster's cache; all zero without a cache.
	Synced    bool
	LastSync  *time.Time
	SyncError *string
	Stale     bool
	WatchedBy *string
}

// Statuses asks the named clusters (all when none) for their version and
// release count, in parallel.
func (r *Registry) Statuses(ctx context.Context, names ...string) []Status {
	return r.StatusesFor(ctx, nil, names...)
}

// StatusesFor is Statuses with each release count cut to what the caller may
// see: the releases in namespaces visible accepts (all when nil) and, on a
// cluster that impersonates, that the cluster's RBAC lets the caller list.
// When that cannot be decided the count is left out and LastError says why.
func (r *Registry) StatusesFor(ctx context.Context, visible func(cluster, namespace string) bool, names ...string) []Status {
	id, caller := auth.FromContext(ctx)
	cs := r.selected(names)
	out := make([]Status, len(cs))
	cached := r.cached(ctx, cs)
	r.each(cs, func(i int, c *Cluster) {
		st := Status{Name: c.Config.Name, Driver: c.Driver.Kind(), Transport: cmp.Or(c.Config.EffectiveTransport(), "api-server")}
		cc, fromCache := cached[c.Config.Name]
		if fromCache {
			st.Synced, st.Stale = cc.Synced, cc.Stale
			if !cc.LastSync.IsZero() {
				st.LastSync = &cc.LastSync
			}
			if cc.LastError != "" {
				st.SyncError = &cc.LastError
			}
			if cc.Holder != "" {
				st.WatchedBy = &cc.Holder
			}
		}
		var version string
		var list []release.Summary
		err := c.call(ctx, func(ctx context.Context) error {
			var err error
			if version, err = c.Driver.Version(ctx); err != nil {
				return err
			}
			if fromCache && cc.Synced {
				list = cc.Releases // counted from the cache: no list of the cluster
				return nil
			}
			list, err = c.Driver.List(ctx, nil)
			return err
		})
		st.CheckedAt = time.Now()
		if err != nil {
			msg := err.Error()
			st.LastError = &msg
			out[i] = st
			return
		}
		st.Reachable, st.ServerVersion = true, &version
		if visible != nil {
			list = slices.DeleteFunc(slices.Clone(list), func(s release.Summary) bool { return !visible(s.Ref.Cluster, s.Ref.Namespace) })
		}
		var cut error
		if c.imp != nil && caller {
			list, cut = c.imp.access.listable(ctx, id, list)
		}
		if cut != nil {
			msg := cut.Error()
			st.LastError = &msg
		} else {
			n := len(list)
			st.ReleaseCount = &n
		}
		out[i] = st
	})
	return out
}
