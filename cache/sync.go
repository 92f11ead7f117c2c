package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/release"
)

// SyncOptions configures a Syncer.
type SyncOptions struct {
	Backend  Backend
	Registry *clusters.Registry
	// Replica names this process among those sharing the Backend; a unique
	// name is made up when empty.
	Replica string
	// LeaseTTL is how long a replica that died keeps its clusters: another
	// takes them over once the lease expires. 15s by default.
	LeaseTTL time.Duration
	// Resync is how often a healthy watch is replaced by a fresh list. 30m
	// by default.
	Resync time.Duration
	// PollInterval is how often clusters whose driver cannot watch are
	// listed (tiller and swift poll by themselves); DefaultPollInterval by default.
	PollInterval time.Duration
	Log          *slog.Logger
}

// Syncer runs one sync loop per cluster whose driver can watch: take the
// cluster's lease, list, watch, write what it sees to the Store and publish
// events; retry with backoff when anything fails. Replicas that do not hold
// a cluster's lease read what the holder writes.
type Syncer struct {
	opts SyncOptions
	log  *slog.Logger
}

// NewSyncer returns a Syncer; Run starts it.
func NewSyncer(opts SyncOptions) *Syncer {
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 15 * time.Second
	}
	if opts.Resync <= 0 {
		opts.Resync = 30 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Replica == "" {
		host, _ := os.Hostname()
		opts.Replica = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Syncer{opts: opts, log: opts.Log}
}

// Replica is the name this Syncer holds leases under.
func (s *Syncer) Replica() string { return s.opts.Replica }

// LeaseTTL is the lease duration in use.
func (s *Syncer) LeaseTTL() time.Duration { return s.opts.LeaseTTL }

// Run runs the sync loops until ctx ends, then gives up the leases it holds.
func (s *Syncer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range s.opts.Registry.Names() {
		c, err := s.opts.Registry.Cluster(name)
		if err != nil {
			continue
		}
		w, ok := c.Driver.(clusters.Watcher)
		if !ok {
			timeout := time.Duration(c.Config.Timeout)
			if timeout <= 0 {
				timeout = clusters.DefaultTimeout
			}
			w = poller{driver: c.Driver, interval: s.opts.PollInterval, timeout: timeout}
			s.log.Info("driver cannot watch; polling it", "cluster", name, "interval", s.opts.PollInterval)
		}
		wg.Go(func() { s.loop(ctx, name, w) })
	}
	wg.Wait()
}

var errLeaseLost = errors.New("lease lost")

func (s *Syncer) loop(ctx context.Context, cluster string, w clusters.Watcher) {
	log := s.log.With("cluster", cluster, "replica", s.opts.Replica)
	lease := "cluster:" + cluster
	ttl := s.opts.LeaseTTL
	var failures int
	for ctx.Err() == nil {
		got, err := s.opts.Backend.Acquire(ctx, lease, s.opts.Replica, ttl)
		if err != nil {
			failures++
			log.Warn("cannot take the cluster's lease", "err", err)
			sleep(ctx, backoff(failures, ttl))
			continue
		}
		if !got {
			sleep(ctx, jitter(ttl/3))
			continue
		}
		log.Info("watching cluster")
		err = s.hold(ctx, cluster, lease, w, log)
		if ctx.Err() != nil {
			// Shutting down: hand the cluster over now rather than at expiry.
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s.opts.Backend.Release(rctx, lease, s.opts.Replica)
			cancel()
			return
		}
		failures++
		log.Warn("stopped watching cluster", "err", err)
		sleep(ctx, backoff(failures, ttl))
	}
}

// hold runs the cluster's watch while the lease is renewed.
func (s *Syncer) hold(ctx context.Context, cluster, lease string, w clusters.Watcher, log *slog.Logger) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sk := &sink{s: s, cluster: cluster}
	go func() {
		t := time.NewTicker(s.opts.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			got, err := s.opts.Backend.Acquire(ctx, lease, s.opts.Replica, s.opts.LeaseTTL)
			if err != nil || !got {
				cancel(fmt.Errorf("%w: %v", errLeaseLost, err))
				return
			}
			if err := sk.heartbeat(ctx); err != nil {
				cancel(err)
				return
			}
		}
	}()
	var failures int
	for {
		wctx, wcancel := context.WithTimeout(ctx, jitter(s.opts.Resync))
		err := w.Watch(wctx, sk)
		wcancel()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err == nil {
			failures = 0
			continue // resync: list again
		}
		if errors.Is(err, ErrUnavailable) {
			return err // the cache is gone: give the lease a chance to move
		}
		failures++
		log.Warn("cluster watch failed; serving its last data as stale", "err", err)
		if serr := sk.failed(ctx, err); serr != nil {
			return serr
		}
		sleep(ctx, backoff(failures, 30*time.Second))
	}
}

// sink writes what a cluster's watch sees to the Store and publishes the
// changes of status or revision as events.
type sink struct {
	s       *Syncer
	cluster string

	mu     sync.Mutex
	cur    map[release.Ref]release.Summary // what the Store holds
	synced bool
}

func (k *sink) state(errMsg string) SyncState {
	return SyncState{Synced: k.synced, LastSync: time.Now(), LastError: errMsg, Holder: k.s.opts.Replica}
}

func (k *sink) Replace(ctx context.Context, rels []release.Summary) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	be := k.s.opts.Backend
	prev := k.cur
	if prev == nil {
		// First list of this holder: diff against what the Store has, so
		// that changes made while nobody watched still become events.
		snaps, err := be.Snapshot(ctx, []string{k.cluster})
		if err != nil {
			return err
		}
		if snap, ok := snaps[k.cluster]; ok && snap.State.Synced {
			prev = make(map[release.Ref]release.Summary, len(snap.Releases))
			for _, s := range snap.Releases {
				prev[s.Ref] = s
			}
		}
	}
	k.synced = true
	if err := be.Replace(ctx, k.cluster, rels, k.state("")); err != nil {
		return err
	}
	cur := make(map[release.Ref]release.Summary, len(rels))
	for _, s := range rels {
		cur[s.Ref] = s
	}
	k.cur = cur
	if prev == nil {
		return nil // a first sync is not a change
	}
	now := time.Now()
	for _, s := range rels {
		if err := k.publishChange(ctx, prev[s.Ref], s, now); err != nil {
			return err
		}
	}
	for ref, old := range prev {
		if _, ok := cur[ref]; !ok {
			if err := be.Publish(ctx, Event{Type: Deleted, Release: old, PreviousStatus: old.Status, PreviousRevision: old.Revision, ObservedAt: now}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (k *sink) publishChange(ctx context.Context, old, s release.Summary, now time.Time) error {
	ev := Event{Release: s, ObservedAt: now}
	switch {
	case old.Ref == (release.Ref{}):
		ev.Type = Added
	case old.Status != s.Status || old.Revision != s.Revision:
		ev.Type, ev.PreviousStatus, ev.PreviousRevision = Modified, old.Status, old.Revision
	default:
		return nil
	}
	return k.s.opts.Backend.Publish(ctx, ev)
}

func (k *sink) Upsert(ctx context.Context, s release.Summary) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.s.opts.Backend.Put(ctx, s); err != nil {
		return err
	}
	old := k.cur[s.Ref]
	k.cur[s.Ref] = s
	return k.publishChange(ctx, old, s, time.Now())
}

func (k *sink) Delete(ctx context.Context, ref release.Ref) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.s.opts.Backend.Delete(ctx, ref); err != nil {
		return err
	}
	old, had := k.cur[ref]
	delete(k.cur, ref)
	if !had {
		return nil
	}
	return k.s.opts.Backend.Publish(ctx, Event{Type: Deleted, Release: old, PreviousStatus: old.Status, PreviousRevision: old.Revision, ObservedAt: time.Now()})
}

// heartbeat tells readers the watch is healthy as of now.
func (k *sink) heartbeat(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.synced || k.cur == nil {
		return nil
	}
	return k.s.opts.Backend.SetState(ctx, k.cluster, k.state(""))
}

// failed records why the watch failed; the stored releases stay, marked
// stale by readers, with LastSync left at the last healthy moment.
func (k *sink) failed(ctx context.Context, werr error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	snaps, err := k.s.opts.Backend.Snapshot(ctx, []string{k.cluster})
	if err != nil {
		return err
	}
	st := snaps[k.cluster].State
	st.LastError, st.Holder = werr.Error(), k.s.opts.Replica
	k.cur = nil // the next list diffs against the Store
	return k.s.opts.Backend.SetState(ctx, k.cluster, st)
}

func backoff(failures int, ceiling time.Duration) time.Duration {
	d := 200 * time.Millisecond << min(failures, 10)
	return jitter(min(d, ceiling))
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
