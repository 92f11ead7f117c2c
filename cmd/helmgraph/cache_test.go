package main

import (
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/cache/redis"
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
