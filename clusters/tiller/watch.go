package tiller

import (
	"context"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// DefaultPollInterval is how often Watch lists Tiller: it has no watch API.
const DefaultPollInterval = 10 * time.Second

// Watch feeds sink with the cluster's releases: the whole set first, then
// what changed, by listing Tiller every poll interval (Tiller has no watch
// API) and, through a port-forward, also as soon as Tiller's storage in the
// API server changes (see StorageWatch). It returns when ctx ends, or with
// the error of a failed list, for the caller's sync loop to retry.
func (d *Driver) Watch(ctx context.Context, sink release.Sink) error {
	var storage *StorageWatch
	if pf, ok := d.transport.(*PortForward); ok && pf.REST != nil {
		storage = &StorageWatch{REST: pf.REST, Namespace: pf.namespace(), Log: d.log}
	}
	return PollWatch(ctx, sink, d.pollInterval, func(ctx context.Context) ([]release.Summary, error) { return d.List(ctx, nil) }, storage)
}

// PollWatch is Watch for drivers without a watch API (tiller, swift): it
// calls list every interval and reports the differences to sink. With a
// storage watch (nil for none: no API server), it also lists promptly after
// Tiller's storage changed, the events of one burst gathered into one list;
// the interval remains the safety net.
func PollWatch(ctx context.Context, sink release.Sink, interval time.Duration, list func(context.Context) ([]release.Summary, error), storage *StorageWatch) error {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	// stored holds at most one pending change: events that come during a
	// list wait for the next one together, and one list runs at a time.
	var stored chan struct{}
	if storage != nil {
		stored = make(chan struct{}, 1)
		sctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { storage.run(sctx, stored) })
		defer func() { cancel(); wg.Wait() }()
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
		case <-stored:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(settle):
			}
			select {
			case <-stored: // gathered into this list
			default:
			}
		}
		rels, err := list(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t.Reset(interval)
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
