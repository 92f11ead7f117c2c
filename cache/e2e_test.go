package cache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/cache/redis"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/server"
)

var (
	env *testenv.Env
	rds *testenv.Redis
)

// TestMain starts two real API servers and one real redis-server for the package.
func TestMain(m *testing.M) {
	var err error
	if rds, err = testenv.StartRedis(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e, err := testenv.Start("east", "west")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		if e != nil {
			e.Stop()
		}
		rds.Stop()
		os.Exit(1)
	}
	env = e
	code := m.Run()
	e.Stop()
	rds.Stop()
	os.Exit(code)
}

var quiet = slog.New(slog.DiscardHandler)

// listCounter counts the requests helmgraph sends to an API server: n the
// LISTs of Helm's storage objects, gets the GETs of one of them, all every
// request but watches.
type listCounter struct{ n, gets, all atomic.Int64 }

func (c *listCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.URL.Query().Get("watch") != "true" {
			c.all.Add(1)
			storage := strings.Contains(r.URL.Path, "/secrets") || strings.Contains(r.URL.Path, "/configmaps")
			list := strings.HasSuffix(r.URL.Path, "/secrets") || strings.HasSuffix(r.URL.Path, "/configmaps")
			switch {
			case r.Method == http.MethodGet && list:
				c.n.Add(1)
			case r.Method == http.MethodGet && storage:
				c.gets.Add(1)
			}
		}
		return rt.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// registry builds helmgraph's registry over the named test clusters, each
// driver's transport counting its LIST requests.
func registry(t testing.TB, counters map[string]*listCounter, names ...string) *clusters.Registry {
	t.Helper()
	var cs []*clusters.Cluster
	for _, n := range names {
		rc := env.REST(n)
		rc.Timeout = 10 * time.Second
		if c := counters[n]; c != nil {
			rc.Wrap(c.wrap)
		}
		d, err := helm.New(helm.Config{Cluster: n, REST: rc, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, &clusters.Cluster{Config: clusters.Config{Name: n, Driver: "helm", Timeout: clusters.Duration(10 * time.Second)}, Driver: d, Log: quiet})
	}
	return clusters.NewRegistry(cs)
}

// replica is one helmgraph: cache service and HTTP server.
type replica struct {
	svc    *cache.Service
	ts     *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t testing.TB, backend cache.Backend, reg *clusters.Registry, name string, ttl time.Duration, ready bool) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc := cache.NewService(backend, reg, cache.SyncOptions{Replica: name, LeaseTTL: ttl, Log: quiet})
	r := &replica{svc: svc, cancel: cancel, done: make(chan struct{})}
	go func() { svc.Run(ctx); close(r.done) }()
	opts := server.Options{Registry: reg, Log: quiet, Events: svc.Hub, KeepAlive: 500 * time.Millisecond}
	if ready {
		opts.Ready = svc.Source.Ready
	}
	r.ts = httptest.NewServer(server.New(opts).Handler())
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.ts.Close()
	r.cancel()
	<-r.done
}

type gqlResponse struct {
	Data   json.RawMessage
	Errors []struct{ Message string }
}

func query(t testing.TB, url, q string, vars map[string]any, into any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	resp, err := http.Post(url+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response (%d) is not JSON: %s", resp.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("query %s: errors %s", q, raw)
	}
	if err := json.Unmarshal(r.Data, into); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

type clusterState struct {
	Name, WatchedBy string
	Synced, Stale   bool
	SyncError       *string
	LastSync        *time.Time
	ReleaseCount    int
}

func clusterStates(t testing.TB, url string) map[string]clusterState {
	t.Helper()
	var got struct{ Clusters []clusterState }
	query(t, url, `{ clusters { name synced stale syncError lastSync watchedBy releaseCount } }`, nil, &got)
	out := map[string]clusterState{}
	for _, c := range got.Clusters {
		out[c.Name] = c
	}
	return out
}

// eventually polls cond every 50ms until it holds, failing after 60s. It
// bounds a wait for something asynchronous; it asserts nothing about speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting (60s) for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type relNode struct {
	Cluster, Namespace, Name, Status, Description string
	Revision                                      int
	Stale                                         bool
	ObservedAt                                    time.Time
}

func releases(t testing.TB, url string, filter map[string]any) []relNode {
	t.Helper()
	var got struct {
		Releases struct{ Nodes []relNode }
	}
	query(t, url, `query($f: ReleaseFilter) { releases(filter: $f, first: 500) { nodes { cluster namespace name revision status description stale observedAt } } }`,
		map[string]any{"f": filter}, &got)
	return got.Releases.Nodes
}

func find(nodes []relNode, ns, name string) (relNode, bool) {
	for _, n := range nodes {
		if n.Namespace == ns && n.Name == name {
			return n, true
		}
	}
	return relNode{}, false
}

const eventsSubscription = `subscription($f: ReleaseEventFilter) {
  releaseEvents(filter: $f) { type previousStatus previousRevision observedAt release { cluster namespace name revision status } }
}`

type releaseEvent struct {
	Type             string
	PreviousStatus   *string
	PreviousRevision *int
	Release          struct {
		Cluster, Namespace, Name, Status string
		Revision                         int
	}
}

// subscribe opens a websocket with the given subprotocol and subscribes to
// release events matching filter.
func subscribe(t testing.TB, url, protocol string, filter map[string]any) *testenv.WSClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := testenv.DialGraphQL(ctx, url+"/graphql", protocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if err := c.Subscribe(ctx, "1", eventsSubscription, map[string]any{"f": filter}); err != nil {
		t.Fatal(err)
	}
	return c
}

// nextEvent reads the subscription's next event, failing on anything else.
func nextEvent(t testing.TB, c *testenv.WSClient) releaseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("waiting for an event: %v", err)
	}
	if m.Type != "next" {
		t.Fatalf("got %s message %s, want an event", m.Type, m.Payload)
	}
	var p struct {
		Data   struct{ ReleaseEvents releaseEvent }
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		t.Fatalf("event payload %s: %v", m.Payload, err)
	}
	return p.Data.ReleaseEvents
}

// waitEvent reads events until one satisfies ok, and returns it.
func waitEvent(t testing.TB, c *testenv.WSClient, what string, ok func(releaseEvent) bool) releaseEvent {
	t.Helper()
	for range 50 {
		if ev := nextEvent(t, c); ok(ev) {
			return ev
		}
	}
	t.Fatalf("no %s event among the next 50", what)
	return releaseEvent{}
}

var installMu sync.Mutex

func install(t testing.TB, cluster, ns, name string) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := localcluster.InstallRelease(ctx, env.REST(cluster), ns, name, "webapp", map[string]any{"message": name}); err != nil {
		t.Fatal(err)
	}
}

func upgrade(t testing.TB, cluster, ns, name, message string) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := localcluster.UpgradeRelease(ctx, env.REST(cluster), ns, name, "webapp", map[string]any{"message": message}); err != nil {
		t.Fatal(err)
	}
}

var prefixes atomic.Int64

func redisBackend(t testing.TB, prefix string) cache.Backend {
	t.Helper()
	b, err := redis.New(redis.Config{Address: rds.Addr, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// countedReplica installs east/ns/name, then starts replica r1 over a fresh
// backend of kind ("memory", or "redis" under a new key prefix starting
// with prefix) whose requests to east are counted.
func countedReplica(t testing.TB, kind, prefix, ns, name string) (*replica, *listCounter) {
	t.Helper()
	install(t, "east", ns, name)
	var backend cache.Backend = memory.New()
	if kind == "redis" {
		backend = redisBackend(t, fmt.Sprintf("%s%d:", prefix, prefixes.Add(1)))
	}
	reqs := &listCounter{}
	r := startReplica(t, backend, registry(t, map[string]*listCounter{"east": reqs}, "east"), "r1", 3*time.Second, kind == "redis")
	return r, reqs
}

// An upgrade through the Helm SDK reaches websocket subscribers of both
// subprotocols as MODIFIED events and shows in queries, while helmgraph
// sends the API server no LIST request after its initial one.
func TestUpgradeStreamsWithoutList(t *testing.T) {
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			ns, name := "shop", "cart-"+kind
			r, lists := countedReplica(t, kind, "upgrade", ns, name)
			eventually(t, "east synced", func() bool { return clusterStates(t, r.ts.URL)["east"].Synced })

			before := releases(t, r.ts.URL, map[string]any{"clusters": []string{"east"}})
			got, ok := find(before, ns, name)
			if !ok || got.Revision != 1 || got.Status != "DEPLOYED" || got.Stale {
				t.Fatalf("before the upgrade %s/%s = %+v (found %v), want revision 1 DEPLOYED, not stale", ns, name, got, ok)
			}
			filter := map[string]any{"clusters": []string{"east"}, "names": []string{name}}
			subs := map[string]*testenv.WSClient{
				testenv.GraphQLTransportWS: subscribe(t, r.ts.URL, testenv.GraphQLTransportWS, filter),
				testenv.GraphQLWS:          subscribe(t, r.ts.URL, testenv.GraphQLWS, filter),
			}
			listsBefore := lists.n.Load()
			if listsBefore == 0 {
				t.Fatal("the counting transport saw no LIST, not even the initial one")
			}

			upgrade(t, "east", ns, name, "v2")

			for proto, c := range subs {
				ev := waitEvent(t, c, "MODIFIED to DEPLOYED revision 2", func(ev releaseEvent) bool {
					if ev.Release.Name != name {
						t.Errorf("%s: got an event of %s/%s through a filter on %s", proto, ev.Release.Namespace, ev.Release.Name, name)
					}
					return ev.Type == "MODIFIED" && ev.Release.Status == "DEPLOYED" && ev.Release.Revision == 2
				})
				if ev.Release.Cluster != "east" || ev.Release.Namespace != ns || ev.Release.Name != name || ev.PreviousStatus == nil || ev.PreviousRevision == nil {
					t.Errorf("%s: event = %+v, want east/%s/%s with its previous status and revision", proto, ev, ns, name)
				}
			}
			after := releases(t, r.ts.URL, map[string]any{"clusters": []string{"east"}})
			got, _ = find(after, ns, name)
			if got.Revision != 2 || got.Status != "DEPLOYED" {
				t.Errorf("after the upgrade %s/%s = %+v, want revision 2 DEPLOYED", ns, name, got)
			}
			var one struct {
				Release struct {
					Revision    int
					Status      string
					Description string
				}
			}
			eventually(t, "the description of revision 2", func() bool {
				query(t, r.ts.URL, `query($ns: String!, $n: String!) { release(cluster: "east", namespace: $ns, name: $n) { revision status description } }`,
					map[string]any{"ns": ns, "n": name}, &one)
				return one.Release.Description == "Upgrade complete"
			})
			if one.Release.Revision != 2 || one.Release.Status != "DEPLOYED" {
				t.Errorf("release(...) = %+v, want revision 2 DEPLOYED", one.Release)
			}
			for proto, c := range subs {
				eventually(t, proto+" keepalive", func() bool { return c.KeepAlives() > 0 })
			}
			if n := lists.n.Load() - listsBefore; n != 0 {
				t.Errorf("helmgraph sent %d LIST requests to the API server after it synced, want 0", n)
			}
		})
	}
}

// Two replicas share one Redis: the one holding a cluster's lease watches it
// and the other's subscribers see its events; when the holder dies, the
// other takes the cluster over.
func TestReplicasShareRedis(t *testing.T) {
	ns := "team"
	install(t, "west", ns, "billing")
	prefix := fmt.Sprintf("replicas%d:", prefixes.Add(1))
	const ttl = 2 * time.Second
	beA := redisBackend(t, prefix)
	a := startReplica(t, beA, registry(t, nil, "east", "west"), "replica-a", ttl, true)
	eventually(t, "replica-a watching both clusters", func() bool {
		st := clusterStates(t, a.ts.URL)
		return st["east"].Synced && st["west"].Synced && st["east"].WatchedBy == "replica-a" && st["west"].WatchedBy == "replica-a"
	})
	b := startReplica(t, redisBackend(t, prefix), registry(t, nil, "east", "west"), "replica-b", ttl, true)
	if st := clusterStates(t, b.ts.URL); !st["west"].Synced || st["west"].WatchedBy != "replica-a" {
		t.Fatalf("replica-b sees west as %+v, want synced and watched by replica-a", st["west"])
	}
	sub := subscribe(t, b.ts.URL, testenv.GraphQLTransportWS, map[string]any{"clusters": []string{"west"}, "names": []string{"billing"}})
	upgrade(t, "west", ns, "billing", "v2")
	waitEvent(t, sub, "west billing revision 2 DEPLOYED via replica-a's watch", func(ev releaseEvent) bool {
		return ev.Type == "MODIFIED" && ev.Release.Revision == 2 && ev.Release.Status == "DEPLOYED"
	})

	// replica-a dies: its Redis connection goes first, so it cannot hand its
	// leases over; they must expire.
	beA.Close()
	a.stop()
	eventually(t, "replica-b watching both clusters", func() bool {
		st := clusterStates(t, b.ts.URL)
		return st["east"].WatchedBy == "replica-b" && st["west"].WatchedBy == "replica-b" && !st["west"].Stale
	})
	upgrade(t, "west", ns, "billing", "v3")
	waitEvent(t, sub, "west billing revision 3 DEPLOYED via replica-b's own watch", func(ev releaseEvent) bool {
		return ev.Type == "MODIFIED" && ev.Release.Revision == 3 && ev.Release.Status == "DEPLOYED"
	})
	got, _ := find(releases(t, b.ts.URL, map[string]any{"clusters": []string{"west"}}), ns, "billing")
	if got.Revision != 3 || got.Status != "DEPLOYED" {
		t.Errorf("west/%s/billing on replica-b = %+v, want revision 3 DEPLOYED", ns, got)
	}
}

func readyz(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Redis killed and restarted (empty) under a running replica: readiness
// flips, queries fall back to the clusters, and the cache catches up.
func TestRedisRestart(t *testing.T) {
	ns := "ops"
	install(t, "east", ns, "monitor")
	r := startReplica(t, redisBackend(t, fmt.Sprintf("restart%d:", prefixes.Add(1))), registry(t, nil, "east"), "solo", 2*time.Second, true)
	eventually(t, "east synced", func() bool { return clusterStates(t, r.ts.URL)["east"].Synced })
	if code := readyz(t, r.ts.URL); code != http.StatusOK {
		t.Fatalf("/readyz = %d with Redis up, want 200", code)
	}

	rds.Kill()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			rds.Start()
		}
	})
	eventually(t, "/readyz to fail without Redis", func() bool { return readyz(t, r.ts.URL) == http.StatusServiceUnavailable })
	// Queries read the cluster live meanwhile, and see what changes there.
	install(t, "east", ns, "late")
	nodes := releases(t, r.ts.URL, map[string]any{"clusters": []string{"east"}, "namespaces": []string{ns}})
	if _, ok := find(nodes, ns, "late"); !ok {
		t.Errorf("releases without Redis = %+v, want the live cluster's, including %s/late", nodes, ns)
	}
	for _, n := range nodes {
		if n.Stale {
			t.Errorf("live release %s/%s is marked stale", n.Namespace, n.Name)
		}
	}

	if err := rds.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	eventually(t, "/readyz to recover with Redis", func() bool { return readyz(t, r.ts.URL) == http.StatusOK })
	eventually(t, "east synced into the new Redis", func() bool {
		st := clusterStates(t, r.ts.URL)["east"]
		return st.Synced && st.WatchedBy == "solo"
	})
	upgrade(t, "east", ns, "late", "v2")
	eventually(t, "the cache to show late at revision 2", func() bool {
		got, ok := find(releases(t, r.ts.URL, map[string]any{"clusters": []string{"east"}}), ns, "late")
		return ok && got.Revision == 2 && got.Status == "DEPLOYED"
	})
}

// The registry keeps the last data of a cluster whose API server is gone,
// marked stale, rather than failing it.
func TestClusterDownServesStale(t *testing.T) {
	install(t, "west", "keep", "archive")
	r := startReplica(t, memory.New(), registry(t, nil, "west"), "solo", 2*time.Second, false)
	eventually(t, "west synced", func() bool { return clusterStates(t, r.ts.URL)["west"].Synced })
	west := env.Server("west")
	if err := west.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { west.Restart(context.Background()) })
	var got relNode
	eventually(t, "west's data marked stale", func() bool {
		var ok bool
		got, ok = find(releases(t, r.ts.URL, map[string]any{"clusters": []string{"west"}}), "keep", "archive")
		return ok && got.Stale
	})
	if got.ObservedAt.IsZero() || got.Status != "DEPLOYED" {
		t.Errorf("stale release = %+v, want its last status and observedAt", got)
	}
	if err := west.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "west fresh again", func() bool {
		got, ok := find(releases(t, r.ts.URL, map[string]any{"clusters": []string{"west"}}), "keep", "archive")
		return ok && !got.Stale
	})
}

// A Redis that is not there at start: not ready, queries read live.
func TestRedisDownAtStart(t *testing.T) {
	install(t, "east", "boot", "early")
	be, err := redis.New(redis.Config{Address: "127.0.0.1:1"}) // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	r := startReplica(t, be, registry(t, nil, "east"), "solo", 2*time.Second, true)
	eventually(t, "/readyz to fail without Redis", func() bool { return readyz(t, r.ts.URL) == http.StatusServiceUnavailable })
	got, ok := find(releases(t, r.ts.URL, map[string]any{"clusters": []string{"east"}}), "boot", "early")
	if !ok || got.Status != "DEPLOYED" || got.Stale {
		t.Errorf("boot/early read live = %+v (found %v), want DEPLOYED, not stale", got, ok)
	}
	if st := clusterStates(t, r.ts.URL)["east"]; st.Synced || st.ReleaseCount == 0 {
		t.Errorf("east = %+v, want not synced, with its release count read live", st)
	}
}
