package memory

import (
	"container/list"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/release"
)

// Option sets a limit of a Backend.
type Option func(*Backend)

// WithDetailLimits bounds the decoded revisions and histories a Backend
// keeps: total bytes, and the largest single entry (both approximate: the
// size of the entry as JSON). The least recently used entries go first.
func WithDetailLimits(total, entry int64) Option {
	return func(b *Backend) { b.details.max, b.details.maxEntry = total, entry }
}

// lru keeps values by key up to max approximate bytes, dropping the least
// recently used. Safe for concurrent use.
type lru struct {
	mu            sync.Mutex
	max, maxEntry int64
	size          int64
	order         *list.List // front: most recently used
	byKey         map[string]*list.Element
}

type lruEntry struct {
	key  string
	val  any
	size int64
}

func newLRU() *lru {
	return &lru{max: cache.DefaultDetailTotalBytes, maxEntry: cache.DefaultDetailMaxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *lru) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).val, true
}

func (c *lru) put(key string, val any, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.maxEntry || size > c.max {
		return
	}
	if e, ok := c.byKey[key]; ok {
		c.remove(e)
	}
	c.byKey[key] = c.order.PushFront(&lruEntry{key: key, val: val, size: size})
	c.size += size
	for c.size > c.max {
		c.remove(c.order.Back())
	}
}

func (c *lru) remove(e *list.Element) {
	en := c.order.Remove(e).(*lruEntry)
	delete(c.byKey, en.key)
	c.size -= en.size
}

// jsonSize approximates what v holds by its size as JSON, as Redis stores it.
func jsonSize(v any) (int64, error) {
	j, err := json.Marshal(v)
	return int64(len(j)), err
}

func (b *Backend) GetDetail(ctx context.Context, ref release.Ref, revision int, updated time.Time) (*release.Release, error) {
	v, ok := b.details.get(cache.DetailKey(ref, revision, updated))
	if !ok {
		return nil, nil
	}
	rel := *v.(*release.Release) // the caller may set fields of its copy; the maps are shared
	return &rel, nil
}

func (b *Backend) PutDetail(ctx context.Context, rel *release.Release) error {
	if !cache.Cacheable(rel.Summary) {
		return nil
	}
	size, err := jsonSize(rel)
	if err != nil {
		return err
	}
	kept := *rel
	b.details.put(cache.DetailKey(rel.Ref, rel.Revision, rel.Updated), &kept, size)
	return nil
}

func (b *Backend) GetHistory(ctx context.Context, latest release.Summary) ([]release.Summary, error) {
	v, ok := b.details.get(cache.HistoryKey(latest))
	if !ok {
		return nil, nil
	}
	return slices.Clone(v.([]release.Summary)), nil
}

func (b *Backend) PutHistory(ctx context.Context, hist []release.Summary) error {
	if len(hist) == 0 || !cache.Cacheable(hist[0]) {
		return nil
	}
	size, err := jsonSize(hist)
	if err != nil {
		return err
	}
	b.details.put(cache.HistoryKey(hist[0]), slices.Clone(hist), size)
	return nil
}
