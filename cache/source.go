package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/release"
)

// Source lets the clusters Registry answer from the Store (clusters.Source).
// It watches the Store's health so that queries never wait on a Store that
// is down: they are read live meanwhile.
type Source struct {
	store Store
	// staleAfter: a cluster whose state was not refreshed for this long is
	// stale (its holder died and nobody took over yet).
	staleAfter time.Duration
	up         atomic.Bool
	log        *slog.Logger
}

var _ clusters.DetailSource = (*Source)(nil)

// NewSource returns a Source over store; leaseTTL is the Syncer's.
func NewSource(store Store, leaseTTL time.Duration, log *slog.Logger) *Source {
	s := &Source{store: store, staleAfter: 2 * leaseTTL, log: log}
	s.up.Store(true)
	return s
}

// Cached implements clusters.Source.
func (s *Source) Cached(ctx context.Context, names []string) (map[string]clusters.CachedCluster, error) {
	if !s.up.Load() {
		return nil, fmt.Errorf("%w: the last health check failed", ErrUnavailable)
	}
	snaps, err := s.store.Snapshot(ctx, names)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make(map[string]clusters.CachedCluster, len(snaps))
	for name, snap := range snaps {
		st := snap.State
		out[name] = clusters.CachedCluster{
			Synced: st.Synced, Releases: snap.Releases, LastSync: st.LastSync, LastError: st.LastError, Holder: st.Holder,
			Stale: st.LastError != "" || now.Sub(st.LastSync) > s.staleAfter,
		}
	}
	return out, nil
}

// Detail implements clusters.DetailSource.
func (s *Source) Detail(ctx context.Context, ref release.Ref, revision int, updated time.Time) (*release.Release, error) {
	if err := s.Ready(); err != nil {
		return nil, err
	}
	return s.store.GetDetail(ctx, ref, revision, updated)
}

// PutDetail implements clusters.DetailSource.
func (s *Source) PutDetail(ctx context.Context, rel *release.Release) error {
	if err := s.Ready(); err != nil {
		return err
	}
	return s.store.PutDetail(ctx, rel)
}

// History implements clusters.DetailSource.
func (s *Source) History(ctx context.Context, latest release.Summary) ([]release.Summary, error) {
	if err := s.Ready(); err != nil {
		return nil, err
	}
	return s.store.GetHistory(ctx, latest)
}

// PutHistory implements clusters.DetailSource.
func (s *Source) PutHistory(ctx context.Context, hist []release.Summary) error {
	if err := s.Ready(); err != nil {
		return err
	}
	return s.store.PutHistory(ctx, hist)
}

// Ready reports whether the Store answers, as of the last health check.
func (s *Source) Ready() error {
	if !s.up.Load() {
		return fmt.Errorf("%w: release cache not reachable", ErrUnavailable)
	}
	return nil
}

// Run checks the Store's health every interval until ctx ends.
func (s *Source) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, interval)
		err := s.store.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		was := s.up.Swap(err == nil)
		switch {
		case err != nil && was:
			s.log.Warn("release cache unavailable: queries read the clusters live until it returns", "err", err)
		case err == nil && !was:
			s.log.Info("release cache available again")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
