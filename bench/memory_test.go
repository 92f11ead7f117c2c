package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/server"
)

// The memory benchmark's clusters: one seeded with the plain webapp chart,
// one with the same chart carrying a large bundled file.
var (
	memReleases    = flag.Int("cachemem.releases", 500, "releases per cluster of BenchmarkCacheMemory")
	memRevisions   = flag.Int("cachemem.revisions", 5, "revisions per release of BenchmarkCacheMemory")
	memBigFile     = flag.Int("cachemem.bigfile", 64<<10, "bytes of incompressible data in the big chart of BenchmarkCacheMemory")
	memSubscribers = flag.Int("cachemem.subscribers", 1000, "idle websocket subscriptions of BenchmarkCacheMemory/idle-subscription")
	memProfiles    = flag.String("cachemem.profiles", "", "directory for heap and goroutine profiles taken where BenchmarkCacheMemory measures")
)

// profile writes the heap and goroutine profiles to -cachemem.profiles.
func profile(b *testing.B, name string) {
	if *memProfiles == "" {
		return
	}
	for _, p := range []string{"heap", "goroutine"} {
		f, err := os.Create(filepath.Join(*memProfiles, name+"."+p))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup(p).WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkCacheMemory measures what helmgraph keeps in its own process:
//
//   - summary-small, summary-big: per cached release (summary, the watch's
//     bookkeeping of every storage object, the Store), once a cluster is
//     synced, beyond what a synced cluster without releases costs (reported
//     as fixed-KiB); the two clusters differ only in chart size (a 64 KiB
//     bundled file in every revision of the big one), so the figure must not
//     follow the chart. Each iteration is a cold sync of the cluster, whose time,
//     bytes read from the API server and peak heap are reported too.
//   - idle-subscription: per idle releaseEvents subscription, each on its
//     own websocket, the subscribers running in a separate process so that
//     only the server's side is counted.
//
// Run: go test ./bench/ -run '^$' -bench CacheMemory -benchtime 3x
func BenchmarkCacheMemory(b *testing.B) {
	small := fleet{Namespaces: []string{"shop", "payments", "platform", "data", "ops"}, Releases: *memReleases, Revisions: *memRevisions}
	big := small
	big.ExtraFileBytes = *memBigFile
	e, err := testenv.Start("mem-small", "mem-big", "mem-empty")
	if e != nil {
		b.Cleanup(e.Stop)
	}
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, c := range []struct {
		name string
		f    fleet
	}{{"mem-small", small}, {"mem-big", big}, {"mem-empty", fleet{Namespaces: small.Namespaces}}} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			s, err := secretStores(ctx, e.REST(c.name), c.f)
			if err == nil {
				err = seedCluster(ctx, c.f, s, start)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "cache memory bench: seeded 2 clusters × %d releases × %d revisions in %s\n", small.Releases, small.Revisions, time.Since(start).Round(time.Millisecond))

	for _, c := range []string{"mem-small", "mem-big"} {
		b.Run("summary-"+strings.TrimPrefix(c, "mem-"), func(b *testing.B) {
			var perRelease, fixed float64
			var syncs syncTotals
			for b.Loop() {
				// What a synced cluster costs whatever it holds (clients,
				// the watch, the Store's event buffer) is measured on a
				// cluster without releases and taken off.
				m0 := coldSync(b, e, []string{"mem-empty"}, 0)
				m := coldSync(b, e, []string{c}, small.Releases)
				fixed += float64(m0.retained)
				perRelease += float64(m.retained-m0.retained) / float64(small.Releases)
				syncs.add(m)
			}
			n := float64(b.N)
			b.ReportMetric(perRelease/n, "B/release")
			b.ReportMetric(fixed/n/(1<<10), "fixed-KiB")
			syncs.report(b)
		})
	}

	idle := func(b *testing.B, perSocket int) {
		reg, err := clusters.Open(e.Configs(), quiet)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		svc := cache.NewService(memory.New(), reg, cache.SyncOptions{Replica: "bench", Log: quiet})
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		srv := server.New(server.Options{Registry: reg, Log: quiet, Events: svc.Hub})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ctx, l) }()
		b.Cleanup(func() { cancel(); <-done; <-served })
		waitSynced(b, svc.Backend, reg.Names())

		n := *memSubscribers
		var perSub, perStack, goroutines float64
		for b.Loop() {
			h0, s0 := liveHeapStacks()
			g0 := runtime.NumGoroutine()
			stop := startSubscribers(b, "http://"+l.Addr().String()+"/graphql", n, perSocket)
			for svc.Hub.Subscribers() < n {
				time.Sleep(10 * time.Millisecond)
			}
			h1, s1 := liveHeapStacks()
			g1 := runtime.NumGoroutine()
			profile(b, "idle-subscription")
			perSub += float64(h1+s1-h0-s0) / float64(n)
			perStack += float64(s1-s0) / float64(n)
			goroutines += float64(g1-g0) / float64(n)
			stop()
			for svc.Hub.Subscribers() > 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		b.ReportMetric(perSub/float64(b.N), "B/subscription")
		b.ReportMetric(perStack/float64(b.N), "stack-B/subscription")
		b.ReportMetric(goroutines/float64(b.N), "goroutines/subscription")
	}
	b.Run("idle-subscription", func(b *testing.B) { idle(b, 1) })
	// As graphql-ws clients and GraphiQL do when one page subscribes more
	// than once: 10 subscriptions share each websocket.
	b.Run("idle-subscription-10-per-socket", func(b *testing.B) { idle(b, 10) })
}

// syncMeasure is what one cold sync cost and left behind.
type syncMeasure struct {
	took     time.Duration
	apiBytes int64  // read from the API servers, on the wire
	peakHeap uint64 // live heap objects, sampled during the sync
	retained int64  // live heap + goroutine stacks after the sync, minus before
}

// syncTotals sums cold syncs to report their means.
type syncTotals struct {
	n                        int
	took, apiBytes, peakHeap float64
}

func (t *syncTotals) add(m syncMeasure) {
	t.n++
	t.took += m.took.Seconds()
	t.apiBytes += float64(m.apiBytes)
	t.peakHeap += float64(m.peakHeap)
}

func (t *syncTotals) report(b *testing.B) {
	n := float64(max(t.n, 1))
	b.ReportMetric(t.took/n, "sync-s")
	b.ReportMetric(t.apiBytes/n/(1<<20), "api-MiB")
	b.ReportMetric(t.peakHeap/n/(1<<20), "peak-heap-MiB")
}

// coldSync starts a fresh helmgraph cache (memory Store) over the named
// clusters, waits until every one is synced and measures it; the cache is
// stopped before it returns. want is the release count of each cluster.
func coldSync(b *testing.B, e *testenv.Env, names []string, want int) syncMeasure {
	var wire wireCount
	before := liveHeap()
	peak := samplePeakHeap()
	t0 := time.Now()
	reg := helmRegistry(b, e, names, &wire)
	ctx, cancel := context.WithCancel(context.Background())
	backend := memory.New()
	svc := cache.NewService(backend, reg, cache.SyncOptions{Replica: "bench", Log: quiet})
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	snaps := waitSynced(b, backend, names)
	m := syncMeasure{took: time.Since(t0), apiBytes: wire.in.Load(), peakHeap: peak()}
	for name, s := range snaps {
		if len(s.Releases) != want {
			b.Fatalf("cluster %s: %d releases cached, want %d", name, len(s.Releases), want)
		}
	}
	m.retained = liveHeap() - before
	profile(b, "summary-"+strings.Join(names, "+"))
	return m
}

// waitSynced polls the Store until every named cluster is synced.
func waitSynced(b *testing.B, store cache.Store, names []string) map[string]cache.Snapshot {
	deadline := time.Now().Add(20 * time.Minute)
	for {
		snaps, err := store.Snapshot(context.Background(), names)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, s := range snaps {
			if s.State.Synced {
				n++
			}
		}
		if n == len(names) {
			return snaps
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d clusters synced after 20 minutes", n, len(names))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// helmRegistry is clusters.Open's registry over the named clusters of e,
// with every byte the drivers read from an API server counted in w.
func helmRegistry(b *testing.B, e *testenv.Env, names []string, w *wireCount) *clusters.Registry {
	var cs []*clusters.Cluster
	for _, c := range e.Configs() {
		if !slices.Contains(names, c.Name) {
			continue
		}
		rc, err := c.RESTConfig()
		if err != nil {
			b.Fatal(err)
		}
		d, err := helm.New(helm.Config{Cluster: c.Name, REST: w.rest(rc), Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, &clusters.Cluster{Config: c, Driver: d, Log: quiet})
	}
	return clusters.NewRegistry(cs)
}

// wireCount counts the bytes read from the connections of rest configs it
// wrapped: what crossed the network, after any compression and with TLS.
type wireCount struct{ in atomic.Int64 }

func (w *wireCount) rest(rc *rest.Config) *rest.Config {
	rc = rest.CopyConfig(rc)
	rc.WarningHandler = rest.NoWarnings{}
	var d net.Dialer
	rc.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countedConn{Conn: c, w: w}, nil
	}
	return rc
}

type countedConn struct {
	net.Conn
	w *wireCount
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.in.Add(int64(n))
	return n, err
}

// liveHeap is the process's live heap objects and goroutine stacks after a
// full collection.
func liveHeap() int64 {
	h, st := liveHeapStacks()
	return h + st
}

func liveHeapStacks() (heap, stacks int64) {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
}

// samplePeakHeap samples the live heap objects every millisecond until the
// returned function is called, which returns the highest sample.
func samplePeakHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return sync.OnceValue(func() uint64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	})
}

// subscribeEnv names the environment variable that makes the test binary
// the subscriber process: "URL N perSocket".
const subscribeEnv = "HELMGRAPH_BENCH_SUBSCRIBE"

// startSubscribers runs n idle releaseEvents subscriptions, perSocket on each
// websocket (half the sockets graphql-transport-ws, half graphql-ws), in a child process
// (this test binary, see subscriberProcess); stop ends them.
func startSubscribers(b *testing.B, url string, n, perSocket int) (stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", subscribeEnv, url, n, perSocket))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		b.Fatalf("subscriber process: %q, %v", line, err)
	}
	return func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("subscriber process: %v", err)
		}
	}
}

// subscriberProcess is the child of startSubscribers: it opens the
// subscriptions, says "ready" and holds them until its stdin closes.
func subscriberProcess(spec string) int {
	var url string
	var n, perSocket int
	if _, err := fmt.Sscanf(spec, "%s %d %d", &url, &n, &perSocket); err != nil || perSocket < 1 {
		fmt.Fprintf(os.Stderr, "subscriber process: bad spec %q: %v\n", spec, err)
		return 2
	}
	ctx := context.Background()
	const query = `subscription { releaseEvents(filter: {names: ["app-000"]}) { type previousStatus release { cluster namespace name revision status } } }`
	var conns []*testenv.WSClient
	for i := 0; i < n; i += perSocket {
		proto := testenv.GraphQLTransportWS
		if len(conns)%2 == 1 {
			proto = testenv.GraphQLWS
		}
		c, err := testenv.DialGraphQL(ctx, url, proto)
		for j := 0; err == nil && j < perSocket && i+j < n; j++ {
			err = c.Subscribe(ctx, strconv.Itoa(j+1), query, nil)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "subscriber %d: %v\n", i, err)
			return 1
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.CloseNow()
	}
	return 0
}

// quiet discards helmgraph's logs during benchmarks.
var quiet = slog.New(slog.DiscardHandler)
