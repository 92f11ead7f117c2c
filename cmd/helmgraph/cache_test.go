package main

import (
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/cache/redis"
	"github.com/helmgraph/helmgraph/release"
)

func TestLoadConfigCache(t *testing.T) {
	path := configDir(t, `
clusters:
- name: east
  driver: helm
  kubeconfig: kube/config
cache:
  redis:
    address: 127.0.0.1:6379
    username: helmgraph
    passwordFile: secrets/token
    db: 2
    tls: true
    keyPrefix: "prod:"
`)
	got, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig() error = %v", err)
	}
	want := &redis.Config{Address: "127.0.0.1:6379", Username: "helmgraph", PasswordFile: filepath.Join(filepath.Dir(path), "secrets", "token"), DB: 2, TLS: true, KeyPrefix: "prod:"}
	if !reflect.DeepEqual(got.Cache.Redis, want) {
		t.Errorf("cache.redis = %+v, want %+v", got.Cache.Redis, want)
	}

	bad := configDir(t, `
clusters:
- name: east
  driver: helm
  kubeconfig: kube/config
cache:
  redis:
    adress: 127.0.0.1:6379
`)
	if _, err := loadConfig(bad); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Errorf("loadConfig(misspelt cache.redis.address) error = %v, want one naming the field", err)
	}
}

func TestOpenCache(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	b, shared, err := openCache(cacheConfig{}, quiet)
	if _, ok := b.(*memory.Backend); !ok || shared || err != nil {
		t.Errorf("openCache(no redis) = %T, shared %v, %v; want the memory backend, not shared", b, shared, err)
	}
	b, shared, err = openCache(cacheConfig{Redis: &redis.Config{Address: "redis://127.0.0.1:1/0"}}, quiet)
	if _, ok := b.(*redis.Backend); !ok || !shared || err != nil {
		t.Errorf("openCache(redis) = %T, shared %v, %v; want the redis backend, shared (it connects lazily)", b, shared, err)
	}
	b.Close()
	if _, _, err := openCache(cacheConfig{Redis: &redis.Config{}}, quiet); err == nil || !strings.Contains(err.Error(), "cache.redis") {
		t.Errorf("openCache(redis without address) error = %v, want one naming cache.redis", err)
	}
}

// cache.memory bounds the memory backend's decoded revisions: an entry
// larger than detailMaxBytes is not kept, a smaller one is.
func TestMemoryCacheLimits(t *testing.T) {
	path := configDir(t, `
clusters:
- name: east
  driver: helm
  kubeconfig: kube/config
cache:
  memory:
    detailBytes: 1048576
    detailMaxBytes: 2048
`)
	fc, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig() error = %v", err)
	}
	b, shared, err := openCache(fc.Cache, slog.New(slog.DiscardHandler))
	if err != nil || shared {
		t.Fatalf("openCache(memory) = shared %v, %v", shared, err)
	}
	defer b.Close()
	ctx := t.Context()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rel := func(name string, manifest int) *release.Release {
		return &release.Release{
			Summary:  release.Summary{Ref: release.Ref{Cluster: "east", Namespace: "web", Name: name}, Revision: 1, Updated: at},
			Manifest: strings.Repeat("x", manifest),
		}
	}
	for _, r := range []*release.Release{rel("small", 100), rel("large", 4096)} {
		if err := b.PutDetail(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := b.GetDetail(ctx, rel("small", 0).Ref, 1, at); err != nil || got == nil {
		t.Errorf("small entry: %v, %v; want it kept", got, err)
	}
	if got, err := b.GetDetail(ctx, rel("large", 0).Ref, 1, at); err != nil || got != nil {
		t.Errorf("entry over detailMaxBytes: %v, %v; want it not kept", got != nil, err)
	}

	for _, c := range []cacheConfig{
		{Memory: &memoryCacheConfig{DetailBytes: -1}},
		{Memory: &memoryCacheConfig{}, Redis: &redis.Config{Address: "127.0.0.1:6379"}},
	} {
		if _, _, err := openCache(c, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "cache") {
			t.Errorf("openCache(%+v) error = %v, want one naming the cache setting", c, err)
		}
	}
}
