package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/cache/redis"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/server"
)

// The cache benchmark's fleet; the is 10 × 500 × 10 (50,000 release
// Secrets). Smaller fleets: -cachefleet.clusters 2 -cachefleet.releases 100.
var (
	cacheClusters    = flag.Int("cachefleet.clusters", 10, "clusters of BenchmarkCacheFleet")
	cacheReleases    = flag.Int("cachefleet.releases", 500, "releases per cluster of BenchmarkCacheFleet")
	cacheRevisions   = flag.Int("cachefleet.revisions", 10, "revisions per release of BenchmarkCacheFleet")
	cacheSubscribers = flag.Int("cachefleet.subscribers", 1000, "websocket subscribers of BenchmarkCacheFleet/event")
)

// BenchmarkCacheFleet compares, in one run over one seeded fleet of real API
// servers, releases(first: 100) from a synced cache (memory and Redis) with
// the Helm SDK's fan-out, and measures how long a status change takes to
// reach 1,000 websocket subscribers compared with a raw client-go watch.
// The fleet is started here, not in TestMain, and stopped when it ends.
func BenchmarkCacheFleet(b *testing.B) {
	f := fleet{Namespaces: []string{"shop", "payments", "platform", "data", "ops"}, Releases: *cacheReleases, Revisions: *cacheRevisions}
	var names []string
	for i := range *cacheClusters {
		names = append(names, fmt.Sprintf("fleet-%02d", i))
	}
	start := time.Now()
	e, err := testenv.Start(names...)
	if e != nil {
		b.Cleanup(e.Stop)
	}
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "cache bench: %d API servers started in %s\n", len(names), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	stores := make([]map[string]*storage.Storage, len(names))
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			s, err := secretStores(ctx, e.REST(n), f)
			if err == nil {
				err = seedCluster(ctx, f, s, start)
			}
			stores[i], errs[i] = s, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	total := len(names) * f.Releases
	wantPage := min(pageSize, total) // smaller fleets than the may hold less than a page
	fmt.Fprintf(os.Stderr, "cache bench: seeded %d clusters × %d releases × %d revisions (%d release Secrets) in %s\n",
		len(names), f.Releases, f.Revisions, total*f.Revisions, time.Since(start).Round(time.Millisecond))

	serve := func(b *testing.B, backend cache.Backend) (*httptest.Server, *cache.Service) {
		reg, err := clusters.Open(e.Configs(), quiet)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		svc := cache.NewService(backend, reg, cache.SyncOptions{Replica: "bench", Log: quiet})
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		ts := httptest.NewServer(server.New(server.Options{Registry: reg, Log: quiet, Events: svc.Hub}).Handler())
		b.Cleanup(func() { ts.Close(); cancel(); <-done })
		t0 := time.Now()
		for {
			var st struct{ Clusters []struct{ Synced bool } }
			postJSON(b, ts, `{ clusters { synced } }`, &st)
			n := 0
			for _, c := range st.Clusters {
				if c.Synced {
					n++
				}
			}
			if n == len(names) {
				break
			}
			if time.Since(t0) > 20*time.Minute {
				b.Fatalf("cache not synced after 20 minutes (%d of %d clusters)", n, len(names))
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "cache bench: %T synced %d release Secrets in %s\n", backend, total*f.Revisions, time.Since(t0).Round(time.Millisecond))
		return ts, svc
	}

	var firstPage []string // what every contender must return
	check := func(b *testing.B, who string, got []string) {
		if firstPage == nil {
			firstPage = got
			return
		}
		if !slices.Equal(got, firstPage) {
			b.Fatalf("%s: first page differs from the first contender's:\n%v\nwant\n%v", who, got, firstPage)
		}
	}

	b.Run("sdk-fanout", func(b *testing.B) {
		var cs []sdkCluster
		var wire wireCount
		for _, c := range e.Configs() {
			rc, err := c.RESTConfig()
			if err != nil {
				b.Fatal(err)
			}
			rc = wire.rest(rc)
			cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
			if err := cfg.Init(helm.NewRESTClientGetter(rc, ""), "", helm.StorageSecret); err != nil {
				b.Fatal(err)
			}
			cs = append(cs, sdkCluster{name: c.Name, cfg: cfg})
		}
		var lat []time.Duration
		var apiBytes, peakHeap float64
		for b.Loop() {
			w0 := wire.in.Load()
			peak := samplePeakHeap()
			t := time.Now()
			page, n, err := sdkFanout(cs)
			lat = append(lat, time.Since(t))
			peakHeap += float64(peak())
			apiBytes += float64(wire.in.Load() - w0)
			if err != nil || n != total || len(page) != wantPage {
				b.Fatalf("sdk fan-out: %d releases, page %d, %v; want %d, %d", n, len(page), err, total, wantPage)
			}
			var keys []string
			for _, r := range page {
				keys = append(keys, r.cluster+"/"+r.rls.Namespace+"/"+r.rls.Name)
			}
			check(b, "sdk fan-out", keys)
		}
		report(b, lat)
		b.ReportMetric(apiBytes/float64(b.N)/(1<<20), "api-MiB")
		b.ReportMetric(peakHeap/float64(b.N)/(1<<20), "peak-heap-MiB")
	})

	// Cold sync: a fresh helmgraph (memory Store) until every cluster is
	// synced, against the SDK listing the fleet once (sdk-fanout above).
	b.Run("cold-sync", func(b *testing.B) {
		var syncs syncTotals
		for b.Loop() {
			syncs.add(coldSync(b, e, names, f.Releases))
		}
		syncs.report(b)
	})

	page := func(b *testing.B, backend cache.Backend) {
		ts, _ := serve(b, backend)
		body, _ := json.Marshal(map[string]string{"query": releasesQuery})
		client := ts.Client()
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		var lat []time.Duration
		for b.Loop() {
			t := time.Now()
			resp, err := client.Post(ts.URL+"/graphql", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			var out releasesResponse
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			lat = append(lat, time.Since(t))
			if err != nil || len(out.Errors) > 0 || out.Data.Releases.TotalCount != total || len(out.Data.Releases.Edges) != wantPage {
				b.Fatalf("releases: %v, errors %s, totalCount %d, %d edges; want %d, %d", err, out.Errors, out.Data.Releases.TotalCount, len(out.Data.Releases.Edges), total, wantPage)
			}
			if len(lat) == 1 {
				var keys []string
				for _, e := range out.Data.Releases.Edges {
					n := e.Node
					if n.Revision != f.Revisions || n.Status != "DEPLOYED" {
						b.Fatalf("%s/%s/%s: revision %d %s, want %d DEPLOYED", n.Cluster, n.Namespace, n.Name, n.Revision, n.Status, f.Revisions)
					}
					keys = append(keys, n.Cluster+"/"+n.Namespace+"/"+n.Name)
				}
				check(b, fmt.Sprintf("%T", backend), keys)
			}
		}
		runtime.ReadMemStats(&ms1)
		report(b, lat)
		b.ReportMetric(float64(ms1.HeapAlloc)/(1<<20), "heap-MiB")
	}
	b.Run("cache-memory", func(b *testing.B) { page(b, memory.New()) })

	rds, err := testenv.StartRedis()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rds.Stop)
	b.Run("cache-redis", func(b *testing.B) {
		be, err := redis.New(redis.Config{Address: rds.Addr})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Close() })
		page(b, be)
	})

	b.Run("event", func(b *testing.B) { eventLatency(b, e, f, stores[0], names[0], serve) })
}

// eventLatency: per iteration one status change of one release (Helm's
// storage Update, as `helm` itself writes it); the time from a raw client-go
// watch of that Secret seeing it to each websocket subscriber receiving the
// event. Reported: p50 and p99 of that gap over all subscribers and
// iterations.
func eventLatency(b *testing.B, e *testenv.Env, f fleet, stores map[string]*storage.Storage, cluster string,
	serve func(*testing.B, cache.Backend) (*httptest.Server, *cache.Service)) {
	ts, svc := serve(b, memory.New())
	ns, name := f.namespace(0), f.releaseName(0)
	store := stores[ns]
	const query = `subscription($f: ReleaseEventFilter) { releaseEvents(filter: $f) { type previousStatus release { cluster namespace name revision status } } }`
	vars := map[string]any{"f": map[string]any{"clusters": []string{cluster}, "names": []string{name}}}

	n := *cacheSubscribers
	subs := make([]*testenv.WSClient, n)
	ctx := context.Background()
	for i := range n {
		proto := testenv.GraphQLTransportWS
		if i%2 == 1 {
			proto = testenv.GraphQLWS
		}
		c, err := testenv.DialGraphQL(ctx, ts.URL+"/graphql", proto)
		if err != nil {
			b.Fatalf("subscriber %d: %v", i, err)
		}
		b.Cleanup(func() { c.CloseNow() })
		if err := c.Subscribe(ctx, "1", query, vars); err != nil {
			b.Fatal(err)
		}
		subs[i] = c
	}
	for svc.Hub.Subscribers() < n {
		time.Sleep(10 * time.Millisecond)
	}

	cs, err := kubernetes.NewForConfig(e.REST(cluster))
	if err != nil {
		b.Fatal(err)
	}
	key := fmt.Sprintf("%s.%s.v%d", storage.HelmStorageType, name, f.Revisions)
	w, err := cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", key).String()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	// The raw watch is read all the time and stamped on arrival, as the
	// subscribers' messages are.
	rawSeen := make(chan time.Time, 16)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Modified {
				rawSeen <- time.Now()
			}
		}
	}()

	var gaps []time.Duration
	status := rcommon.StatusDeployed
	for b.Loop() {
		if status == rcommon.StatusDeployed {
			status = rcommon.StatusFailed
		} else {
			status = rcommon.StatusDeployed
		}
		r, err := store.Get(name, f.Revisions)
		if err != nil {
			b.Fatal(err)
		}
		rls := r.(*rspb.Release)
		rls.Info.Status = status
		if err := store.Update(rls); err != nil {
			b.Fatal(err)
		}
		raw := <-rawSeen
		// Each client's read loop stamps a message when it comes off the
		// connection; collecting them afterwards, one client after the
		// other, adds no goroutines competing with the delivery.
		nctx, cancel := context.WithTimeout(ctx, time.Minute)
		for i, c := range subs {
			m, err := c.Next(nctx)
			if err != nil || m.Type != "next" {
				b.Fatalf("subscriber %d: %v %s %s", i, err, m.Type, m.Payload)
			}
			gaps = append(gaps, m.At.Sub(raw))
		}
		cancel()
	}
	slices.Sort(gaps)
	b.ReportMetric(ms(pct(gaps, 50)), "p50-gap-ms")
	b.ReportMetric(ms(pct(gaps, 99)), "p99-gap-ms")
	b.ReportMetric(ms(gaps[len(gaps)-1]), "max-gap-ms")
	b.ReportMetric(float64(n), "subscribers")
}

func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
}

func pct(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func postJSON(b *testing.B, ts *httptest.Server, q string, into any) {
	body, _ := json.Marshal(map[string]string{"query": q})
	resp, err := http.Post(ts.URL+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		b.Fatalf("%s: %v %s", q, err, out.Errors)
	}
	if err := json.Unmarshal(out.Data, into); err != nil {
		b.Fatal(err)
	}
}
