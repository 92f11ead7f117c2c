package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/server"
)

// benchFleet is what each benchmark cluster holds: 200 releases × 5
// revisions, 1,000 release Secrets per cluster.
var benchFleet = fleet{
	Namespaces: []string{"shop", "payments", "platform", "data"},
	Releases:   200,
	Revisions:  5,
}

var benchClusters = []string{"bench-a", "bench-b"}

// pageSize is the page both benchmarks produce: releases(first: 100).
const pageSize = 100

// env holds the fleet benchmarks' two seeded API servers, started by the
// first benchmark that needs them (fleetEnv), so that neither `go test ./...`
// nor the other benchmarks pay for, or share the cores with, clusters they
// do not use.
var (
	env     *testenv.Env
	envOnce sync.Once
	envErr  error
)

func fleetEnv(b *testing.B) *testenv.Env {
	b.Helper()
	envOnce.Do(func() {
		e, err := testenv.Start(benchClusters...)
		if err == nil {
			err = seedFleet(e)
		}
		if err != nil && e != nil {
			e.Stop()
			e = nil
		}
		env, envErr = e, err
	})
	if envErr != nil {
		b.Fatal("bench: fleet API servers:", envErr)
	}
	return env
}

// TestMain runs the tests and benchmarks, then stops the fleet if one was
// started. With HELMGRAPH_BENCH_SUBSCRIBE set, the binary is instead the
// subscriber process of BenchmarkCacheMemory (subscriberProcess).
func TestMain(m *testing.M) {
	if spec := os.Getenv(subscribeEnv); spec != "" {
		os.Exit(subscriberProcess(spec))
	}
	flag.Parse()
	code := m.Run()
	if env != nil {
		env.Stop()
	}
	os.Exit(code)
}

// seedFleet seeds every benchmark cluster in parallel and reports the time.
func seedFleet(e *testenv.Env) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	errs := make([]error, len(benchClusters))
	var wg sync.WaitGroup
	for i, name := range benchClusters {
		wg.Go(func() {
			stores, err := secretStores(ctx, e.REST(name), benchFleet)
			if err == nil {
				err = seedCluster(ctx, benchFleet, stores, start)
			}
			if err != nil {
				errs[i] = fmt.Errorf("seed cluster %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	n := len(benchClusters) * benchFleet.Releases * benchFleet.Revisions
	fmt.Fprintf(os.Stderr, "bench: seeded %d clusters × %d releases × %d revisions (%d release Secrets) in %s\n",
		len(benchClusters), benchFleet.Releases, benchFleet.Revisions, n, time.Since(start).Round(time.Millisecond))
	return nil
}

func wantTotal() int { return len(benchClusters) * benchFleet.Releases }

const releasesQuery = `{ releases(first: 100) { totalCount edges { cursor node { cluster namespace name revision status chart { name version } updated } } } }`

type releasesResponse struct {
	Data struct {
		Releases struct {
			TotalCount int
			Edges      []struct {
				Cursor string
				Node   struct {
					Cluster, Namespace, Name string
					Revision                 int
					Status                   string
					Chart                    struct{ Name, Version string }
					Updated                  time.Time
				}
			}
		}
	}
	Errors []json.RawMessage
}

// BenchmarkHelmgraphReleasesFirst100 is one GraphQL query over real HTTP per
// iteration: helmgraph lists both clusters, merges, orders and pages.
func BenchmarkHelmgraphReleasesFirst100(b *testing.B) {

	reg, err := clusters.Open(fleetEnv(b).Configs(), quiet)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(server.New(server.Options{Registry: reg, Log: quiet}).Handler())
	b.Cleanup(ts.Close)
	client := ts.Client()
	body, _ := json.Marshal(map[string]string{"query": releasesQuery})

	query := func() releasesResponse {
		resp, err := client.Post(ts.URL+"/graphql", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var out releasesResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			b.Fatalf("decode response (HTTP %d): %v", resp.StatusCode, err)
		}
		return out
	}

	// Check the answer once, untimed; the loop only checks it is complete.
	got := query()
	if len(got.Errors) > 0 || got.Data.Releases.TotalCount != wantTotal() || len(got.Data.Releases.Edges) != pageSize {
		// The timed query leaves clusterErrors out; ask for them to say why.
		diag, _ := json.Marshal(map[string]string{"query": `{ releases(first: 1) { clusterErrors { cluster code message } } }`})
		var why string
		if resp, err := client.Post(ts.URL+"/graphql", "application/json", bytes.NewReader(diag)); err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			why = string(raw)
		}
		b.Fatalf("releases: totalCount %d, %d edges, errors %s; want %d, %d, none; cluster errors: %s",
			got.Data.Releases.TotalCount, len(got.Data.Releases.Edges), got.Errors, wantTotal(), pageSize, why)
	}
	for _, e := range got.Data.Releases.Edges {
		if n := e.Node; n.Revision != benchFleet.Revisions || n.Status != "DEPLOYED" || n.Chart.Name != "webapp" {
			b.Fatalf("release %s/%s/%s: revision %d %s of chart %s; want revision %d DEPLOYED of chart webapp",
				n.Cluster, n.Namespace, n.Name, n.Revision, n.Status, n.Chart.Name, benchFleet.Revisions)
		}
	}

	b.ReportAllocs()
	for b.Loop() {
		got := query()
		if len(got.Errors) > 0 || got.Data.Releases.TotalCount != wantTotal() {
			b.Fatalf("releases: totalCount %d, errors %s; want %d", got.Data.Releases.TotalCount, got.Errors, wantTotal())
		}
	}
	b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ms/op")
}

// sdkCluster is one cluster as a program using the Helm SDK directly would
// hold it: an action.Configuration over all namespaces.
type sdkCluster struct {
	name string
	cfg  *action.Configuration
}

// sdkClusters initialises one Configuration per cluster the way
// internal/localcluster does (and `helm list -A`, with namespace ""), from
// the same cluster configs helmgraph uses, so both sides have the same
// credentials and client-side rate limits.
func sdkClusters(b *testing.B) []sdkCluster {
	var out []sdkCluster
	for _, c := range fleetEnv(b).Configs() {
		rc, err := c.RESTConfig()
		if err != nil {
			b.Fatal(err)
		}
		rc.WarningHandler = rest.NoWarnings{}
		cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
		if err := cfg.Init(helm.NewRESTClientGetter(rc, ""), "", helm.StorageSecret); err != nil {
			b.Fatalf("helm configuration for cluster %s: %v", c.Name, err)
		}
		out = append(out, sdkCluster{name: c.Name, cfg: cfg})
	}
	return out
}

// sdkRelease is a listed release with the cluster it came from.
type sdkRelease struct {
	cluster string
	rls     *rspb.Release
}

// sdkFanout lists every cluster in parallel with action.List, merges, orders
// like helmgraph's default (name, namespace, cluster) and keeps the first
// page. It returns the page and the total.
func sdkFanout(cs []sdkCluster) ([]sdkRelease, int, error) {
	results := make([][]sdkRelease, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			l := action.NewList(c.cfg)
			l.All, l.AllNamespaces = true, true
			l.SetStateMask()
			rels, err := l.Run()
			if err != nil {
				errs[i] = fmt.Errorf("list releases of cluster %s: %w", c.name, err)
				return
			}
			for _, r := range rels {
				rls, ok := r.(*rspb.Release)
				if !ok {
					errs[i] = fmt.Errorf("list releases of cluster %s: unexpected release type %T", c.name, r)
					return
				}
				results[i] = append(results[i], sdkRelease{cluster: c.name, rls: rls})
			}
		})
	}
	wg.Wait()
	var all []sdkRelease
	for i := range cs {
		if errs[i] != nil {
			return nil, 0, errs[i]
		}
		all = append(all, results[i]...)
	}
	slices.SortFunc(all, func(a, b sdkRelease) int {
		return cmp.Or(cmp.Compare(a.rls.Name, b.rls.Name), cmp.Compare(a.rls.Namespace, b.rls.Namespace), cmp.Compare(a.cluster, b.cluster))
	})
	return all[:min(pageSize, len(all))], len(all), nil
}

// BenchmarkHelmSDKListFanout is the baseline: what a program gets from the
// Helm SDK alone for the same page, in the same process as helmgraph's
// benchmark and against the same API servers.
func BenchmarkHelmSDKListFanout(b *testing.B) {
	cs := sdkClusters(b)

	page, total, err := sdkFanout(cs)
	if err != nil {
		b.Fatal(err)
	}
	if total != wantTotal() || len(page) != pageSize {
		b.Fatalf("helm list fan-out: %d releases, page of %d; want %d, %d", total, len(page), wantTotal(), pageSize)
	}
	for _, r := range page {
		if r.rls.Version != benchFleet.Revisions || r.rls.Info.Status.String() != "deployed" {
			b.Fatalf("release %s/%s/%s: revision %d %s; want revision %d deployed",
				r.cluster, r.rls.Namespace, r.rls.Name, r.rls.Version, r.rls.Info.Status, benchFleet.Revisions)
		}
	}

	b.ReportAllocs()
	for b.Loop() {
		_, total, err := sdkFanout(cs)
		if err != nil {
			b.Fatal(err)
		}
		if total != wantTotal() {
			b.Fatalf("helm list fan-out: %d releases; want %d", total, wantTotal())
		}
	}
	b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ms/op")
}

// BenchmarkSecretsListFloor is a reference, not a contender: the paged
// Secrets List both read paths start with (same pages of 100 as helmgraph's
// driver), without decoding anything. It shows how much of either number the
// API servers and the transfer account for.
func BenchmarkSecretsListFloor(b *testing.B) {
	var cs []kubernetes.Interface
	for _, c := range fleetEnv(b).Configs() {
		rc, err := c.RESTConfig()
		if err != nil {
			b.Fatal(err)
		}
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, client)
	}
	list := func() (objects, payload int) {
		counts := make([][2]int, len(cs))
		errs := make([]error, len(cs))
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Go(func() {
				opts := metav1.ListOptions{LabelSelector: "owner=helm", Limit: pageSize}
				for {
					l, err := c.CoreV1().Secrets("").List(context.Background(), opts)
					if err != nil {
						errs[i] = err
						return
					}
					for _, s := range l.Items {
						counts[i][0]++
						counts[i][1] += len(s.Data["release"])
					}
					if l.Continue == "" {
						return
					}
					opts.Continue = l.Continue
				}
			})
		}
		wg.Wait()
		for i := range cs {
			if errs[i] != nil {
				b.Fatal(errs[i])
			}
			objects += counts[i][0]
			payload += counts[i][1]
		}
		return objects, payload
	}
	want := wantTotal() * benchFleet.Revisions
	objects, payload := list()
	if objects != want {
		b.Fatalf("helm Secrets: %d, want %d", objects, want)
	}

	b.ReportAllocs()
	for b.Loop() {
		if n, _ := list(); n != want {
			b.Fatalf("helm Secrets: %d, want %d", n, want)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ms/op")
	b.ReportMetric(float64(payload)/float64(objects), "payload-B/secret")
}
