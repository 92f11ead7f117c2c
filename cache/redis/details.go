package redis

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/release"
)

// Decoded revisions and histories are JSON strings with a TTL: values come
// back as JSON decodes them (numbers as float64), as Helm's own storage,
// which is JSON too, gives them to the driver.

func (b *Backend) GetDetail(ctx context.Context, ref release.Ref, revision int, updated time.Time) (*release.Release, error) {
	var rel release.Release
	ok, err := b.getJSON(ctx, cache.DetailKey(ref, revision, updated), &rel)
	if !ok {
		return nil, err
	}
	return &rel, nil
}

func (b *Backend) PutDetail(ctx context.Context, rel *release.Release) error {
	if !cache.Cacheable(rel.Summary) {
		return nil
	}
	return b.putJSON(ctx, cache.DetailKey(rel.Ref, rel.Revision, rel.Updated), rel)
}

func (b *Backend) GetHistory(ctx context.Context, latest release.Summary) ([]release.Summary, error) {
	var hist []release.Summary
	ok, err := b.getJSON(ctx, cache.HistoryKey(latest), &hist)
	if !ok {
		return nil, err
	}
	return hist, nil
}

func (b *Backend) PutHistory(ctx context.Context, hist []release.Summary) error {
	if len(hist) == 0 || !cache.Cacheable(hist[0]) {
		return nil
	}
	return b.putJSON(ctx, cache.HistoryKey(hist[0]), hist)
}

// getJSON decodes the value at key into v; false on a miss or an error.
func (b *Backend) getJSON(ctx context.Context, key string, v any) (bool, error) {
	j, err := b.client.Get(ctx, b.prefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, unavailable("read "+key, err)
	}
	if err := json.Unmarshal(j, v); err != nil {
		return false, err
	}
	return true, nil
}

// putJSON stores v at key for the detail TTL, unless it is over the cap.
func (b *Backend) putJSON(ctx context.Context, key string, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(j) > b.detailMax {
		return nil // a cache, not a store: too large to be worth a round trip of its size
	}
	return unavailable("store "+key, b.client.Set(ctx, b.prefix+key, j, b.detailTTL).Err())
}
