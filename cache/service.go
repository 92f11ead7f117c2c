package cache

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
)

// Service is the whole cache of one replica: the sync loops, the Source the
// Registry reads through and the Hub subscribers read from.
type Service struct {
	Backend Backend
	Source  *Source
	Syncer  *Syncer
	Hub     *Hub
}

// NewService wires a cache over backend for the registry's clusters and
// makes the registry read through it.
func NewService(backend Backend, reg *clusters.Registry, opts SyncOptions) *Service {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.Backend, opts.Registry = backend, reg
	sy := NewSyncer(opts)
	src := NewSource(backend, sy.LeaseTTL(), opts.Log)
	reg.SetSource(src)
	return &Service{Backend: backend, Source: src, Syncer: sy, Hub: NewHub(backend, DefaultSubscriberBuffer, opts.Log)}
}

// Run runs everything until ctx ends.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.Source.Run(ctx, time.Second) })
	wg.Go(func() { s.Hub.Run(ctx) })
	wg.Go(func() { s.Syncer.Run(ctx) })
	wg.Wait()
}
