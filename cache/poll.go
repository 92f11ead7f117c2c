package cache

import (
	"context"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/release"
)

// DefaultPollInterval is how often a driver without a watch is listed.
const DefaultPollInterval = 10 * time.Second

// poller makes any driver a clusters.Watcher by listing it every interval
// and reporting the differences: what Tiller and swift allow, having no
// watch API. (A watch of Tiller's storage ConfigMaps, where the cluster's API
// server is reachable, would make their events prompt; not done yet.)
type poller struct {
	driver   clusters.Driver
	interval time.Duration
	timeout  time.Duration
}

func (p poller) Watch(ctx context.Context, sink release.Sink) error {
	var prev map[release.Ref]release.Summary
	for {
		lctx, cancel := context.WithTimeout(ctx, p.timeout)
		rels, err := p.driver.List(lctx, nil)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		cur := make(map[release.Ref]release.Summary, len(rels))
		for _, s := range rels {
			cur[s.Ref] = s
		}
		if prev == nil {
			if err := sink.Replace(ctx, rels); err != nil {
				return err
			}
		} else {
			for _, s := range rels {
				if old, ok := prev[s.Ref]; !ok || old != s {
					if err := sink.Upsert(ctx, s); err != nil {
						return err
					}
				}
			}
			for ref := range prev {
				if _, ok := cur[ref]; !ok {
					if err := sink.Delete(ctx, ref); err != nil {
						return err
					}
				}
			}
		}
		prev = cur
		sleep(ctx, p.interval)
		if ctx.Err() != nil {
			return nil
		}
	}
}
