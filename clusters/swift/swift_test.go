package swift_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/swift"
	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/release"
)

var (
	_ clusters.Driver  = (*swift.Driver)(nil)
	_ clusters.Watcher = (*swift.Driver)(nil)
)

const clusterName = "swift-test"

var (
	apiServer  *localcluster.APIServer
	testTiller *localcluster.Tiller
	gateway    *testenv.SwiftGateway
	swiftURL   string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "swift driver tests: "+format+"\n", args...)
		return 1
	}
	apiBin, err := localcluster.BuildAPIServer(ctx, os.Stderr)
	if err != nil {
		return fail("build kube-apiserver: %v", err)
	}
	tillerBin, err := localcluster.BuildTiller(ctx, os.Stderr)
	if err != nil {
		return fail("build tiller: %v", err)
	}
	dir, err := os.MkdirTemp("", "helmgraph-swift-test-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	apiServer, err = localcluster.StartAPIServer(ctx, localcluster.APIServerOptions{Name: clusterName, Dir: filepath.Join(dir, "apiserver"), Binary: apiBin, Log: os.Stderr})
	if err != nil {
		return fail("start kube-apiserver: %v", err)
	}
	defer apiServer.Stop()
	testTiller, err = localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: filepath.Join(dir, "tiller"), Kubeconfig: apiServer.KubeconfigPath, Log: os.Stderr})
	if err != nil {
		return fail("start tiller: %v", err)
	}
	defer testTiller.Stop()
	if err := localcluster.SeedTiller(ctx, testTiller.Addr); err != nil {
		return fail("seed: %v", err)
	}
	if gateway, err = testenv.NewSwiftGateway(testTiller.Addr, tiller.ClientVersion); err != nil {
		return fail("swift gateway: %v", err)
	}
	defer gateway.Close()
	srv := httptest.NewServer(gateway.Handler())
	defer srv.Close()
	swiftURL = srv.URL
	return m.Run()
}

func newDriver(t *testing.T, ep swift.Endpoint) *swift.Driver {
	t.Helper()
	d, err := swift.New(swift.Config{Cluster: clusterName, Endpoint: ep, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("swift.New() error = %v", err)
	}
	return d
}

func direct(t *testing.T) *swift.Driver { return newDriver(t, swift.Direct{URL: swiftURL}) }

var ctxFor = testenv.Ctx

func TestReads(t *testing.T) {
	testenv.DriverReads(t, direct(t), testenv.V2Fixture(clusterName, release.DriverSwift))
}

func TestVersion(t *testing.T) {
	d := direct(t)
	got, err := d.Version(ctxFor(t))
	if err != nil || got != localcluster.TillerVersion {
		t.Errorf("Version() = %q, %v; want %q", got, err, localcluster.TillerVersion)
	}
	if d.Transport() != "direct" || d.Kind() != release.DriverSwift {
		t.Errorf("Transport(), Kind() = %q, %q; want direct, SWIFT", d.Transport(), d.Kind())
	}
}

// swift answers Tiller's failures with 500 and grpc-gateway's error body:
// a per-cluster error with swift's message, promptly.
func TestSwiftAnswers500(t *testing.T) {
	g, err := testenv.NewSwiftGateway(testTiller.Addr, tiller.ClientVersion)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.Fail = "rpc error: code = Unavailable desc = connection refused"
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	d := newDriver(t, swift.Direct{URL: srv.URL})
	ctx := ctxFor(t)
	_, err = d.List(ctx, nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), "HTTP 500: rpc error: code = Unavailable desc = connection refused") ||
		!strings.Contains(err.Error(), clusterName) {
		t.Errorf("List() error = %v; want ErrClusterUnavailable with swift's message, naming the cluster", err)
	}
	if _, err := d.Version(ctx); !errors.Is(err, release.ErrClusterUnavailable) {
		t.Errorf("Version() error = %v; want ErrClusterUnavailable", err)
	}
}

// A swift whose Tiller is older than swift's Helm client says so.
func TestVersionMismatch(t *testing.T) {
	g, err := testenv.NewSwiftGateway(testTiller.Addr, "v2.18.0")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	_, err = newDriver(t, swift.Direct{URL: srv.URL}).List(ctxFor(t), nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), "incompatible versions client[v2.18.0] server[v2.17.0]") {
		t.Errorf("List() error = %v; want the version mismatch", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	_, err = newDriver(t, swift.Direct{URL: url}).List(ctxFor(t), nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), clusterName) {
		t.Errorf("List() error = %v; want ErrClusterUnavailable naming the cluster", err)
	}

	// Something that is not swift at that URL.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err = newDriver(t, swift.Direct{URL: srv.URL}).Version(ctxFor(t))
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("Version() from a non-swift server: error = %v; want ErrClusterUnavailable with HTTP 404", err)
	}

	// A swift that does not answer in time.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err = newDriver(t, swift.Direct{URL: hang.URL}).List(ctx, nil)
	if !errors.Is(err, release.ErrClusterUnavailable) {
		t.Errorf("List() from a hanging swift: error = %v; want ErrClusterUnavailable", err)
	}
}

// swift's documented list semantics, as the gateway serves them: DEPLOYED
// only by default, status_codes, all.
func TestGatewayListSemantics(t *testing.T) {
	get := func(q string) []string {
		resp, err := http.Get(swiftURL + "/tiller/v2/releases/json" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Releases []struct {
				Name    string `json:"name"`
				Version int    `json:"version"`
				Info    struct {
					Status struct {
						Code string `json:"code"`
					} `json:"status"`
				} `json:"info"`
			} `json:"releases"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range body.Releases {
			out = append(out, fmt.Sprintf("%s.v%d=%s", r.Name, r.Version, r.Info.Status.Code))
		}
		return out
	}
	for q, want := range map[string][]string{
		// A failed upgrade leaves the previous revision DEPLOYED in Helm 2.
		"?sort_by=NAME": {"api.v1=DEPLOYED", "cache.v1=DEPLOYED", "frontend.v2=DEPLOYED"},
		"?sort_by=NAME&status_codes=DELETED&status_codes=FAILED": {"api.v2=FAILED", "nightly.v1=DELETED"},
		"?sort_by=NAME&namespace=shop&all=true":                  {"api.v1=DEPLOYED", "api.v2=FAILED", "frontend.v1=SUPERSEDED", "frontend.v2=DEPLOYED"},
	} {
		got := get(q)
		slices.Sort(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GET /tiller/v2/releases/json%s = %v, want %v", q, got, want)
		}
	}
}

func TestServiceProxyNoService(t *testing.T) {
	d := newDriver(t, &swift.ServiceProxy{Cluster: clusterName, REST: apiServer.RESTConfig()})
	if d.Transport() != "service-proxy" {
		t.Errorf("Transport() = %q", d.Transport())
	}
	_, err := d.List(ctxFor(t), nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), `no swift service (label kubernetes.io/cluster-service=true) in namespace "kube-system"`) {
		t.Errorf("List() error = %v; want ErrClusterUnavailable saying no swift service was found", err)
	}
	// Named but absent: the API server's own 404 is not a missing release.
	d = newDriver(t, &swift.ServiceProxy{Cluster: clusterName, REST: apiServer.RESTConfig(), Service: "nope", Port: "80"})
	_, err = d.Get(ctxFor(t), release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}, 0)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), `API server: HTTP 404`) {
		t.Errorf("Get() through a missing service: error = %v; want ErrClusterUnavailable from the API server", err)
	}
}

func TestOpen(t *testing.T) {
	reg, err := clusters.Open([]clusters.Config{{Name: clusterName, Driver: "swift", Address: swiftURL}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	st := reg.Statuses(ctxFor(t))
	if len(st) != 1 || !st[0].Reachable || st[0].Driver != release.DriverSwift || st[0].ServerVersion == nil ||
		*st[0].ServerVersion != localcluster.TillerVersion || st[0].ReleaseCount == nil || *st[0].ReleaseCount != 4 {
		t.Errorf("Statuses() = %+v; want a reachable SWIFT cluster at %s with 4 releases", st, localcluster.TillerVersion)
	}
}

// Through the API server's service proxy, as a swift in the cluster is
// reached: the gateway listens inside a network namespace this test
// creates (the proxy refuses loopback endpoints), behind a Service found by
// its kubernetes.io/cluster-service label.
func TestServiceProxy(t *testing.T) {
	ctx := ctxFor(t)
	ns, err := testenv.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	l, err := ns.Listen(localcluster.SwiftPort)
	if err != nil {
		t.Fatal(err)
	}
	go gateway.ServeSwift(l)
	t.Cleanup(func() { l.Close() })
	rc := apiServer.RESTConfig()
	if err := localcluster.RegisterSwiftService(ctx, rc, ns.PeerIP); err != nil {
		t.Fatal(err)
	}
	sp := &swift.ServiceProxy{Cluster: clusterName, REST: rc}
	d := newDriver(t, sp)
	t.Run("reads", func(t *testing.T) {
		testenv.DriverReads(t, d, testenv.V2Fixture(clusterName, release.DriverSwift))
	})
	if v, err := d.Version(ctx); err != nil || v != localcluster.TillerVersion {
		t.Errorf("Version() = %q, %v; want %q", v, err, localcluster.TillerVersion)
	}
	base, _, err := sp.Base(ctx)
	if want := apiServer.URL + "/api/v1/namespaces/kube-system/services/swift:http/proxy"; err != nil || base != want {
		t.Errorf("Base() = %q, %v; want %q", base, err, want)
	}

	// Named explicitly, by port number, and through clusters.Open.
	reg, err := clusters.Open([]clusters.Config{{Name: clusterName, Driver: "swift", Transport: "service-proxy", Kubeconfig: apiServer.KubeconfigPath,
		SwiftService: "swift", SwiftPort: "80"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rels, cerrs := reg.List(ctx, nil, []string{"store"})
	if len(cerrs) != 0 || len(rels) != 1 || rels[0].Ref.Name != "cache" || rels[0].Driver != release.DriverSwift {
		t.Errorf("List(store) through the registry = %+v, %+v; want store/cache from swift", rels, cerrs)
	}

	// Watch's storage watch, through the same proxy (storagewatch_test.go).
	t.Run("storage watch", func(t *testing.T) { storageWatchTest(t, sp) })
}
