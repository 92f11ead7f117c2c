// Package memory is the in-process cache.Backend, used when no Redis is
// configured: one replica, nothing shared, nothing kept across restarts.
package memory

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/release"
)

// busBuffer bounds the events waiting for a slow Bus subscriber; the Hub
// reads them without blocking, so this fills only if the process stalls.
const busBuffer = 1 << 14

// Backend keeps everything in maps. Safe for concurrent use.
type Backend struct {
	mu       sync.RWMutex
	clusters map[string]*clusterData
	leases   map[string]lease
	subs     map[chan cache.Event]struct{}
	records  map[string]map[string][]byte
	now      func() time.Time
	// details holds decoded revisions and histories, bounded by size.
	details *lru
}

type clusterData struct {
	state    cache.SyncState
	releases map[release.Ref]release.Summary
	// list is the releases as a slice, rebuilt on the first read after a
	// write, so that reads share one slice instead of copying the map.
	list []release.Summary
}

type lease struct {
	holder  string
	expires time.Time
}

var _ cache.Backend = (*Backend)(nil)

// New returns an empty Backend; its detail cache keeps
// cache.DefaultDetailTotalBytes unless an option says otherwise.
func New(opts ...Option) *Backend {
	b := &Backend{clusters: map[string]*clusterData{}, leases: map[string]lease{}, subs: map[chan cache.Event]struct{}{}, records: map[string]map[string][]byte{}, now: time.Now, details: newLRU()}
	for _, o := range opts {
		o(b)
	}
	return b
}

func (b *Backend) cluster(name string) *clusterData {
	c, ok := b.clusters[name]
	if !ok {
		c = &clusterData{releases: map[release.Ref]release.Summary{}}
		b.clusters[name] = c
	}
	return c
}

func (b *Backend) Replace(ctx context.Context, cluster string, rels []release.Summary, st cache.SyncState) error {
	m := make(map[release.Ref]release.Summary, len(rels))
	for _, s := range rels {
		m[s.Ref] = s
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.cluster(cluster)
	c.releases, c.list, c.state = m, nil, st
	return nil
}

func (b *Backend) Put(ctx context.Context, s release.Summary) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.cluster(s.Ref.Cluster)
	c.releases[s.Ref] = s
	c.list = nil
	return nil
}

func (b *Backend) Delete(ctx context.Context, ref release.Ref) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.cluster(ref.Cluster)
	delete(c.releases, ref)
	c.list = nil
	return nil
}

func (b *Backend) SetState(ctx context.Context, cluster string, st cache.SyncState) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cluster(cluster).state = st
	return nil
}

func (b *Backend) Snapshot(ctx context.Context, clusters []string) (map[string]cache.Snapshot, error) {
	out := make(map[string]cache.Snapshot, len(clusters))
	b.mu.RLock()
	var stale []string
	for _, name := range clusters {
		c, ok := b.clusters[name]
		if !ok {
			continue
		}
		if c.list == nil && len(c.releases) > 0 {
			stale = append(stale, name)
			continue
		}
		out[name] = cache.Snapshot{State: c.state, Releases: c.list}
	}
	b.mu.RUnlock()
	if len(stale) == 0 {
		return out, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range stale {
		c := b.clusters[name]
		if c.list == nil {
			c.list = make([]release.Summary, 0, len(c.releases))
			for _, s := range c.releases {
				c.list = append(c.list, s)
			}
			slices.SortFunc(c.list, func(a, b release.Summary) int {
				return cmp.Or(cmp.Compare(a.Ref.Namespace, b.Ref.Namespace), cmp.Compare(a.Ref.Name, b.Ref.Name))
			})
		}
		out[name] = cache.Snapshot{State: c.state, Releases: c.list}
	}
	return out, nil
}

func (b *Backend) Ping(ctx context.Context) error { return nil }

// Publish hands the event to every subscriber without waiting; a subscriber
// whose buffer is full misses it (the Hub never lets that happen).
func (b *Backend) Publish(ctx context.Context, ev cache.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
	return nil
}

func (b *Backend) Subscribe(ctx context.Context) (<-chan cache.Event, error) {
	ch := make(chan cache.Event, busBuffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs, ch)
		close(ch)
		b.mu.Unlock()
	}()
	return ch, nil
}

func (b *Backend) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if l, ok := b.leases[name]; ok && l.holder != holder && now.Before(l.expires) {
		return false, nil
	}
	b.leases[name] = lease{holder: holder, expires: now.Add(ttl)}
	return true, nil
}

func (b *Backend) Release(ctx context.Context, name, holder string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.leases[name]; ok && l.holder == holder {
		delete(b.leases, name)
	}
	return nil
}

func (b *Backend) SaveRecord(ctx context.Context, kind, name string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.records[kind] == nil {
		b.records[kind] = map[string][]byte{}
	}
	b.records[kind][name] = slices.Clone(data)
	return nil
}

func (b *Backend) DeleteRecord(ctx context.Context, kind, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.records[kind], name)
	return nil
}

func (b *Backend) LoadRecords(ctx context.Context, kind string) (map[string][]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make(map[string][]byte, len(b.records[kind]))
	for n, d := range b.records[kind] {
		out[n] = slices.Clone(d)
	}
	return out, nil
}

func (b *Backend) Close() error { return nil }
