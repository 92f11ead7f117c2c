package redis_test

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/redis"
	"github.com/helmgraph/helmgraph/cache/storetest"
	"github.com/helmgraph/helmgraph/internal/testenv"
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
