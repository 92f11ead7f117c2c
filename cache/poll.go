package cache

import (
	"context"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/release"
)

// DefaultPollInterval is how often a driver without a watch is listed.
const DefaultPollInterval = 10 * time.Second

// poller makes any driver a clusters.Watcher by listing it every interval
// and reporting the differences, with the same loop the tiller and swift
// drivers poll with (tiller.PollWatch). Every driver helmgraph has can watch
// by itself; this is the fallback for one that cannot.
type poller struct {
	driver   clusters.Driver
	interval time.Duration
	timeout  time.Duration
}

func (p poller) Watch(ctx context.Context, sink release.Sink) error {
	return tiller.PollWatch(ctx, sink, p.interval, func(ctx context.Context) ([]release.Summary, error) {
		lctx, cancel := context.WithTimeout(ctx, p.timeout)
		defer cancel()
		return p.driver.List(lctx, nil)
	}, nil)
}
