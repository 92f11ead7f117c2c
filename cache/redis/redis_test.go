package redis_test

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/redis"
	"github.com/helmgraph/helmgraph/cache/storetest"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/release"
)

var srv *testenv.Redis

func TestMain(m *testing.M) {
	var err error
	if srv, err = testenv.StartRedis(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

var n atomic.Int64

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (cache.Backend, cache.Backend) {
		// Two clients, as two replicas, on one fresh key prefix.
		prefix := fmt.Sprintf("test%d:", n.Add(1))
		open := func() cache.Backend {
			b, err := redis.New(redis.Config{Address: srv.Addr, KeyPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}
		return open(), open()
	})
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	pw := dir + "/pw"
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	opts, err := redis.Config{Address: "redis://user@10.0.0.1:6380/2", PasswordFile: pw, TLS: true}.Options()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Addr != "10.0.0.1:6380" || opts.Username != "user" || opts.Password != "s3cret" || opts.DB != 2 || opts.TLSConfig == nil {
		t.Errorf("Options() = addr %s user %s password %q db %d tls %v; want 10.0.0.1:6380 user s3cret 2 true", opts.Addr, opts.Username, opts.Password, opts.DB, opts.TLSConfig != nil)
	}
	if got := (redis.Config{Address: "redis://u:pw@h:1/0"}).Redact(); strings.Contains(got, "pw") {
		t.Errorf("Redact() = %q, want no password", got)
	}
	if _, err := (redis.Config{Address: "redis://u:pw@h:notaport/x"}).Options(); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("Options() error = %v, want one without the password", err)
	}
}

// Decoded revisions expire after the configured TTL, and ones over the
// configured cap are not stored.
func TestDetailTTLAndCap(t *testing.T) {
	ctx := t.Context()
	b, err := redis.New(redis.Config{Address: srv.Addr, KeyPrefix: fmt.Sprintf("test%d:", n.Add(1)),
		DetailTTL: clusters.Duration(300 * time.Millisecond), DetailMaxBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rel := &release.Release{
		Summary:  release.Summary{Ref: release.Ref{Cluster: "east", Namespace: "web", Name: "shop"}, Revision: 1, Updated: time.Unix(1, 0)},
		Manifest: strings.Repeat("x", 1000),
	}
	get := func() bool {
		got, err := b.GetDetail(ctx, rel.Ref, rel.Revision, rel.Updated)
		if err != nil {
			t.Fatal(err)
		}
		return got != nil
	}
	if err := b.PutDetail(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if !get() {
		t.Fatal("GetDetail right after PutDetail missed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for get() {
		if time.Now().After(deadline) {
			t.Fatal("the decoded revision never expired (TTL 300ms)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rel.Manifest = strings.Repeat("x", 3000)
	if err := b.PutDetail(ctx, rel); err != nil || get() {
		t.Errorf("PutDetail over the 2000-byte cap = %v, stored %v; want nil, not stored", err, get())
	}
}
