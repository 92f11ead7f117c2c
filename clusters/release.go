package clusters

import (
	"context"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// Release is a release revision as the graph serves it: the cheap summary,
// with the heavy fields fetched once, on first use, however many of them a
// query selects: from the detail cache when the cluster is synced and does
// not impersonate the caller (Registry.details), else from the cluster.
type Release struct {
	release.Summary
	// ObservedAt is when the data was last known to match the cluster;
	// Stale marks data of a cluster whose watch is failing.
	ObservedAt time.Time
	Stale      bool

	reg  *Registry
	once sync.Once
	rel  *release.Release
	err  error
}

// NewRelease wraps a summary for the graph.
func (r *Registry) NewRelease(s release.Summary) *Release {
	f := r.freshness(s.Ref.Cluster)
	return &Release{Summary: s, reg: r, ObservedAt: f.observedAt, Stale: f.stale}
}

// NewReleaseFrom wraps an already fetched release, so its heavy fields need no second call.
func (r *Registry) NewReleaseFrom(rel *release.Release) *Release {
	l := &Release{Summary: rel.Summary, reg: r, rel: rel, ObservedAt: time.Now()}
	l.once.Do(func() {})
	return l
}

func (l *Release) detail(ctx context.Context) (*release.Release, error) {
	l.once.Do(func() { l.rel, l.err = l.reg.detail(ctx, l.Summary) })
	return l.rel, l.err
}

// Notes is the rendered NOTES.txt.
func (l *Release) Notes(ctx context.Context) (string, error) {
	d, err := l.detail(ctx)
	if err != nil {
		return "", err
	}
	return d.Notes, nil
}

// Manifest is the rendered manifest.
func (l *Release) Manifest(ctx context.Context) (string, error) {
	d, err := l.detail(ctx)
	if err != nil {
		return "", err
	}
	return d.Manifest, nil
}

// Values are the user-supplied values.
func (l *Release) Values(ctx context.Context) (map[string]any, error) {
	d, err := l.detail(ctx)
	if err != nil {
		return nil, err
	}
	return nonNil(d.Values), nil
}

// ComputedValues are the chart's defaults merged with the user's values.
func (l *Release) ComputedValues(ctx context.Context) (map[string]any, error) {
	d, err := l.detail(ctx)
	if err != nil {
		return nil, err
	}
	return nonNil(d.ComputedValues), nil
}

// Resources lists the objects of the manifest.
func (l *Release) Resources(ctx context.Context) ([]release.Resource, error) {
	d, err := l.detail(ctx)
	if err != nil {
		return nil, err
	}
	res := d.Resources()
	if res == nil {
		res = []release.Resource{}
	}
	return res, nil
}

// History lists every revision of the release, newest first.
func (l *Release) History(ctx context.Context) ([]*Release, error) {
	hist, err := l.reg.History(ctx, l.Ref)
	if err != nil {
		return nil, err
	}
	out := make([]*Release, len(hist))
	for i, s := range hist {
		out[i] = l.reg.NewRelease(s)
	}
	return out, nil
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
