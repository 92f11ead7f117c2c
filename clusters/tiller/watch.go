package tiller

import (
	"context"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// DefaultPollInterval is how often Watch lists Tiller: it has no watch API.
const DefaultPollInterval = 10 * time.Second

// Watch feeds sink with the cluster's releases: the whole set first, then
// what changed, by listing Tiller every poll interval (Tiller has no watch
// API). It returns when ctx ends, or with the error of a failed list, for
// the caller's sync loop to retry.
func (d *Driver) Watch(ctx context.Context, sink release.Sink) error {
	return PollWatch(ctx, sink, d.pollInterval, func(ctx context.Context) ([]release.Summary, error) { return d.List(ctx, nil) })
}

// PollWatch is Watch for drivers without a watch API (tiller, swift): it
// calls list every interval and reports the differences to sink.
func PollWatch(ctx context.Context, sink release.Sink, interval time.Duration, list func(context.Context) ([]release.Summary, error)) error {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	rels, err := list(ctx)
	if err != nil {
		return err
	}
	if err := sink.Replace(ctx, rels); err != nil {
		return err
	}
	seen := index(rels)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rels, err := list(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := index(rels)
		for _, s := range rels {
			if old, ok := seen[s.Ref]; !ok || changed(old, s) {
				if err := sink.Upsert(ctx, s); err != nil {
					return err
				}
			}
		}
		for ref := range seen {
			if _, ok := now[ref]; !ok {
				if err := sink.Delete(ctx, ref); err != nil {
					return err
				}
			}
		}
		seen = now
	}
}

func index(rels []release.Summary) map[release.Ref]release.Summary {
	m := make(map[release.Ref]release.Summary, len(rels))
	for _, s := range rels {
		m[s.Ref] = s
	}
	return m
}

func changed(a, b release.Summary) bool {
	return a.Revision != b.Revision || a.Status != b.Status || a.RawStatus != b.RawStatus || !a.Updated.Equal(b.Updated) ||
		a.Description != b.Description || a.Chart != b.Chart
}
