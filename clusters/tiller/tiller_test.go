package tiller_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	anypb "github.com/golang/protobuf/ptypes/any"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"k8s.io/helm/pkg/proto/hapi/services"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/release"
)

var _ clusters.Driver = (*tiller.Driver)(nil)

const clusterName = "tiller-test"

// Shared by every test: one API server, one Tiller storing releases in it.
var (
	apiServer  *localcluster.APIServer
	testTiller *localcluster.Tiller
	tillerBin  string
	testDir    string
)

var (
	frontendV1 = map[string]any{"message": "v1"}
	frontendV2 = map[string]any{"message": "v2", "replicaCount": 2}
	apiV1      = map[string]any{"message": "api", "service": map[string]any{"port": 8080}}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "tiller driver tests: "+format+"\n", args...)
		return 1
	}
	apiBin, err := localcluster.BuildAPIServer(ctx, os.Stderr)
	if err != nil {
		return fail("build kube-apiserver: %v", err)
	}
	if tillerBin, err = localcluster.BuildTiller(ctx, os.Stderr); err != nil {
		return fail("build tiller: %v", err)
	}
	if testDir, err = os.MkdirTemp("", "helmgraph-tiller-test-"); err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(testDir)
	apiServer, err = localcluster.StartAPIServer(ctx, localcluster.APIServerOptions{Name: clusterName, Dir: filepath.Join(testDir, "apiserver"), Binary: apiBin, Log: os.Stderr})
	if err != nil {
		return fail("start kube-apiserver: %v", err)
	}
	defer apiServer.Stop()
	testTiller, err = localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: filepath.Join(testDir, "tiller"), Kubeconfig: apiServer.KubeconfigPath, Log: os.Stderr})
	if err != nil {
		return fail("start tiller: %v", err)
	}
	defer testTiller.Stop()
	if err := seed(ctx, testTiller.Addr); err != nil {
		return fail("seed: %v", err)
	}
	return m.Run()
}

func seed(ctx context.Context, addr string) error {
	c, err := localcluster.DialTiller(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Install(ctx, "shop", "frontend", "webapp", frontendV1); err != nil {
		return err
	}
	if err := c.Upgrade(ctx, "frontend", "webapp", frontendV2); err != nil {
		return err
	}
	if err := c.Install(ctx, "shop", "api", "webapp", apiV1); err != nil {
		return err
	}
	err = c.Upgrade(ctx, "api", "webapp", map[string]any{"breakMe": true})
	if err == nil || !strings.Contains(err.Error(), "Bad_Name") {
		return fmt.Errorf("upgrade of api with breakMe: error = %v, want the API server's refusal of Bad_Name", err)
	}
	if err := c.Install(ctx, "store", "cache", "cache", nil); err != nil {
		return err
	}
	if err := c.Install(ctx, "cron", "nightly", "jobs", map[string]any{"schedule": "0 2 * * *"}); err != nil {
		return err
	}
	return c.Delete(ctx, "nightly", false)
}

func newDriver(t *testing.T, tr tiller.Transport, tlsCfg *tiller.TLS) *tiller.Driver {
	t.Helper()
	d, err := tiller.New(tiller.Config{Cluster: clusterName, Transport: tr, TLS: tlsCfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("tiller.New() error = %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func direct(t *testing.T) *tiller.Driver {
	return newDriver(t, tiller.Direct{Addr: testTiller.Addr}, nil)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type brief struct {
	Ref       string
	Revision  int
	Status    release.Status
	RawStatus string
	Chart     release.Chart
}

func briefs(ss []release.Summary) []brief {
	out := make([]brief, len(ss))
	for i, s := range ss {
		out[i] = brief{s.Ref.String(), s.Revision, s.Status, s.RawStatus, s.Chart}
	}
	return out
}

var (
	webapp = release.Chart{Name: "webapp", Version: "1.4.0", AppVersion: "6.5.0"}
	cache  = release.Chart{Name: "cache", Version: "0.9.2", AppVersion: "7.2.4"}
	jobs   = release.Chart{Name: "jobs", Version: "2.1.0", AppVersion: "1.0.3"}

	frontendLatest = brief{clusterName + "/shop/frontend", 2, release.StatusDeployed, "DEPLOYED", webapp}
	apiLatest      = brief{clusterName + "/shop/api", 2, release.StatusFailed, "FAILED", webapp}
	cacheLatest    = brief{clusterName + "/store/cache", 1, release.StatusDeployed, "DEPLOYED", cache}
	nightlyLatest  = brief{clusterName + "/cron/nightly", 1, release.StatusUninstalled, "DELETED", jobs}
)

// listFixture is List on a driver, checked against the seeded releases;
// the port-forward tests reuse it.
func listFixture(t *testing.T, d clusters.Driver) {
	t.Helper()
	tests := []struct {
		name       string
		namespaces []string
		want       []brief
	}{
		{"all namespaces", nil, []brief{nightlyLatest, apiLatest, frontendLatest, cacheLatest}},
		{"one namespace", []string{"shop"}, []brief{apiLatest, frontendLatest}},
		{"two namespaces, one twice", []string{"store", "cron", "store"}, []brief{nightlyLatest, cacheLatest}},
		{"namespace without releases", []string{"kube-system"}, []brief{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.List(ctxFor(t), tt.namespaces)
			if err != nil {
				t.Fatalf("List(%v) error = %v", tt.namespaces, err)
			}
			if !reflect.DeepEqual(briefs(got), tt.want) {
				t.Errorf("List(%v) =\n%+v\nwant\n%+v", tt.namespaces, briefs(got), tt.want)
			}
			for _, s := range got {
				if s.Driver != release.DriverTiller || s.Updated.IsZero() || s.Description == "" {
					t.Errorf("List: %s: driver %q, updated %v, description %q; want TILLER, a time, a description", s.Ref, s.Driver, s.Updated, s.Description)
				}
			}
		})
	}
}

func TestList(t *testing.T) { listFixture(t, direct(t)) }

func TestGet(t *testing.T) {
	d := direct(t)
	tests := []struct {
		name     string
		ref      release.Ref
		revision int
		want     brief
		values   map[string]any
		computed map[string]any // a subset the computed values must contain
		manifest []string
		notes    string
	}{
		{
			name: "latest", ref: release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"},
			want:     frontendLatest,
			values:   map[string]any{"message": "v2", "replicaCount": float64(2)},
			computed: map[string]any{"message": "v2", "replicaCount": float64(2), "breakMe": false, "service": map[string]any{"type": "ClusterIP", "port": float64(80)}},
			manifest: []string{"kind: Deployment", "replicas: 2", `MESSAGE: "v2"`},
			notes:    `frontend serves "v2" on port 80.`,
		},
		{
			name: "older revision", ref: release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}, revision: 1,
			want:     brief{clusterName + "/shop/frontend", 1, release.StatusSuperseded, "SUPERSEDED", webapp},
			values:   map[string]any{"message": "v1"},
			computed: map[string]any{"message": "v1", "replicaCount": float64(1)},
			manifest: []string{"replicas: 1", `MESSAGE: "v1"`},
			notes:    `frontend serves "v1" on port 80.`,
		},
		{
			name: "failed upgrade", ref: release.Ref{Cluster: clusterName, Namespace: "shop", Name: "api"},
			want:     apiLatest,
			values:   map[string]any{"breakMe": true},
			computed: map[string]any{"breakMe": true, "message": "hello from helmgraph", "service": map[string]any{"type": "ClusterIP", "port": float64(80)}},
			manifest: []string{"Bad_Name"},
		},
		{
			name: "deleted, history kept", ref: release.Ref{Cluster: clusterName, Namespace: "cron", Name: "nightly"},
			want:     nightlyLatest,
			values:   map[string]any{"schedule": "0 2 * * *"},
			computed: map[string]any{"schedule": "0 2 * * *", "suspend": false},
			manifest: []string{"kind: CronJob"},
		},
		{
			name: "no user values", ref: release.Ref{Cluster: clusterName, Namespace: "store", Name: "cache"},
			want:     cacheLatest,
			values:   map[string]any{},
			manifest: []string{"kind: StatefulSet"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Get(ctxFor(t), tt.ref, tt.revision)
			if err != nil {
				t.Fatalf("Get(%s, %d) error = %v", tt.ref, tt.revision, err)
			}
			if b := briefs([]release.Summary{got.Summary})[0]; b != tt.want {
				t.Errorf("Get summary = %+v, want %+v", b, tt.want)
			}
			if !reflect.DeepEqual(jsonish(got.Values), tt.values) {
				t.Errorf("Values = %#v, want %#v", got.Values, tt.values)
			}
			cv := jsonish(got.ComputedValues).(map[string]any)
			for k, want := range tt.computed {
				if !reflect.DeepEqual(cv[k], want) {
					t.Errorf("ComputedValues[%q] = %#v, want %#v", k, cv[k], want)
				}
			}
			for _, s := range tt.manifest {
				if !strings.Contains(got.Manifest, s) {
					t.Errorf("Manifest lacks %q:\n%s", s, got.Manifest)
				}
			}
			if tt.notes != "" && !strings.Contains(got.Notes, tt.notes) {
				t.Errorf("Notes = %q, want it to contain %q", got.Notes, tt.notes)
			}
			if len(got.Resources()) == 0 {
				t.Errorf("Resources() is empty; manifest:\n%s", got.Manifest)
			}
		})
	}
}

// jsonish normalises YAML-decoded numbers (ints vs float64) as JSON would.
func jsonish(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			out[k] = jsonish(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = jsonish(e)
		}
		return out
	case int:
		return float64(t)
	case int64:
		return float64(t)
	}
	return v
}

func TestHistory(t *testing.T) {
	d := direct(t)
	got, err := d.History(ctxFor(t), release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"})
	if err != nil {
		t.Fatalf("History error = %v", err)
	}
	want := []brief{frontendLatest, {clusterName + "/shop/frontend", 1, release.StatusSuperseded, "SUPERSEDED", webapp}}
	if !reflect.DeepEqual(briefs(got), want) {
		t.Errorf("History = %+v, want %+v", briefs(got), want)
	}
}

func TestNotFound(t *testing.T) {
	d := direct(t)
	ctx := ctxFor(t)
	missing := release.Ref{Cluster: clusterName, Namespace: "shop", Name: "nope"}
	otherNS := release.Ref{Cluster: clusterName, Namespace: "store", Name: "frontend"} // names are cluster-wide in Helm 2
	for name, call := range map[string]func() error{
		"get missing": func() error { _, err := d.Get(ctx, missing, 0); return err },
		"get missing revision": func() error {
			_, err := d.Get(ctx, release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}, 9)
			return err
		},
		"get in another namespace":     func() error { _, err := d.Get(ctx, otherNS, 0); return err },
		"history missing":              func() error { _, err := d.History(ctx, missing); return err },
		"history in another namespace": func() error { _, err := d.History(ctx, otherNS); return err },
	} {
		if err := call(); !errors.Is(err, release.ErrNotFound) {
			t.Errorf("%s: error = %v, want ErrNotFound", name, err)
		}
	}
	for name, call := range map[string]func() error{
		"invalid name": func() error {
			_, err := d.Get(ctx, release.Ref{Cluster: clusterName, Namespace: "shop", Name: "Not/A name"}, 0)
			return err
		},
		"negative revision": func() error { _, err := d.Get(ctx, missing, -1); return err },
		"no namespace":      func() error { _, err := d.History(ctx, release.Ref{Cluster: clusterName, Name: "x"}); return err },
	} {
		if err := call(); !errors.Is(err, release.ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestVersion(t *testing.T) {
	d := direct(t)
	got, err := d.Version(ctxFor(t))
	if err != nil || got != localcluster.TillerVersion {
		t.Errorf("Version() = %q, %v; want %q", got, err, localcluster.TillerVersion)
	}
	if d.Transport() != "direct" || d.Kind() != release.DriverTiller {
		t.Errorf("Transport(), Kind() = %q, %q; want direct, TILLER", d.Transport(), d.Kind())
	}
}

// Every call carries x-helm-api-client: a Tiller older than the client
// refuses all but GetVersion, and the driver says so.
func TestVersionMismatch(t *testing.T) {
	ctx := ctxFor(t)
	bin, err := localcluster.BuildTillerVersion(t.Context(), "v2.16.12", io.Discard)
	if err != nil {
		t.Fatalf("build old tiller: %v", err)
	}
	old, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: bin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath})
	if err != nil {
		t.Fatalf("start old tiller: %v", err)
	}
	t.Cleanup(old.Stop)
	d := newDriver(t, tiller.Direct{Addr: old.Addr}, nil)
	if v, err := d.Version(ctx); err != nil || v != "v2.16.12" {
		t.Errorf("Version() = %q, %v; want v2.16.12", v, err)
	}
	_, err = d.List(ctx, nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), "tiller is older than helmgraph's Helm v2 client v2.17.0") ||
		!strings.Contains(err.Error(), clusterName) {
		t.Errorf("List() error = %v; want ErrClusterUnavailable naming the cluster and the version mismatch", err)
	}
	_, err = d.Get(ctx, release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}, 0)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), "incompatible versions") {
		t.Errorf("Get() error = %v; want the version mismatch", err)
	}
}

func TestTLS(t *testing.T) {
	ctx := ctxFor(t)
	pki, err := localcluster.WriteTillerPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secure, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath,
		TLS: &localcluster.TillerTLS{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKey, CAFile: pki.CAFile}})
	if err != nil {
		t.Fatalf("start tiller with TLS: %v", err)
	}
	t.Cleanup(secure.Stop)
	tr := tiller.Direct{Addr: secure.Addr}

	d := newDriver(t, tr, &tiller.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey})
	got, err := d.List(ctx, []string{"shop"})
	if err != nil || !reflect.DeepEqual(briefs(got), []brief{apiLatest, frontendLatest}) {
		t.Errorf("List over TLS = %+v, %v; want shop's releases", briefs(got), err)
	}

	for name, cfg := range map[string]*tiller.TLS{
		"no client certificate": {CAFile: pki.CAFile},
		"plaintext":             nil,
		"unknown CA":            {CAFile: apiServer.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKey},
	} {
		d := newDriver(t, tr, cfg)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := d.List(cctx, nil)
		cancel()
		if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), clusterName) {
			t.Errorf("%s: List() error = %v; want ErrClusterUnavailable naming the cluster", name, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	d := newDriver(t, tiller.Direct{Addr: addr}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err = d.List(ctx, nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), clusterName) {
		t.Errorf("List() error = %v; want ErrClusterUnavailable naming the cluster", err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("List() took %s; want it bounded by ctx", el)
	}
}

// cutProxy forwards connections to Tiller and cuts each one after limit
// bytes from Tiller have passed.
func cutProxy(t *testing.T, target string, limit int64) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); io.CopyN(c, up, limit); c.Close(); up.Close() }()
		}
	}()
	return l.Addr().String()
}

// bigReleases installs n releases whose charts carry size bytes of
// incompressible data each, so that one ListReleases message of Tiller's
// exceeds gRPC's default 4 MiB receive limit.
func bigReleases(t *testing.T, namespace string, n, size int) {
	t.Helper()
	c, err := localcluster.DialTiller(testTiller.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		ch, err := localcluster.TillerChart("cache")
		if err != nil {
			t.Fatal(err)
		}
		blob := make([]byte, size)
		rand.Read(blob)
		ch.Files = append(ch.Files, &anypb.Any{TypeUrl: "files/blob.bin", Value: blob})
		if err := c.InstallChart(ctxFor(t), namespace, fmt.Sprintf("big-%d", i), ch, nil); err != nil {
			t.Fatal(err)
		}
	}
}

var bigOnce sync.Once

func seedBig(t *testing.T) {
	bigOnce.Do(func() { bigReleases(t, "big", 8, 640<<10) })
}

// A list larger than gRPC's default limit in one message: the driver reads
// it, a client with default limits gets ResourceExhausted.
func TestListLargeMessages(t *testing.T) {
	seedBig(t)
	ctx := ctxFor(t)
	got, err := direct(t).List(ctx, []string{"big"})
	if err != nil || len(got) != 8 {
		t.Fatalf("List(big) = %d releases, %v; want 8", len(got), err)
	}

	conn, err := grpc.NewClient(testTiller.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := services.NewReleaseServiceClient(conn).ListReleases(metadata.AppendToOutgoingContext(ctx, "x-helm-api-client", tiller.ClientVersion),
		&services.ListReleasesRequest{Namespace: "big", Limit: 100})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("plain client with default limits: error = %v, want ResourceExhausted (else this test proves nothing)", err)
	}
}

// A stream cut in the middle of a list is an error naming the cluster, not
// a hang and not a short list.
func TestStreamCutMidList(t *testing.T) {
	seedBig(t)
	d := newDriver(t, tiller.Direct{Addr: cutProxy(t, testTiller.Addr, 1<<20)}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	got, err := d.List(ctx, nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), clusterName) {
		t.Errorf("List() = %d releases, %v; want ErrClusterUnavailable naming the cluster", len(got), err)
	}
	if el := time.Since(start); el > 9*time.Second {
		t.Errorf("List() took %s; want a prompt error", el)
	}
}

func TestCoalesceValues(t *testing.T) {
	ch, err := localcluster.TillerChart("webapp")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := localcluster.TillerChart("cache")
	ch.Dependencies = append(ch.Dependencies, sub)
	ch.Values.Raw += "global:\n  env: prod\n"
	got, err := tiller.CoalesceValues(ch, map[string]any{
		"image":   map[string]any{"tag": "7.0"},
		"message": nil, // null deletes the chart's default
		"cache":   map[string]any{"replicas": 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := jsonish(got).(map[string]any)
	for path, want := range map[string]any{
		"image.tag":        "7.0",
		"image.repository": "registry.example/webapp",
		"cache.replicas":   float64(3),
		"cache.global.env": "prod",
		"service.port":     float64(80),
	} {
		var v any = g
		for _, k := range strings.Split(path, ".") {
			v = v.(map[string]any)[k]
		}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("%s = %#v, want %#v", path, v, want)
		}
	}
	if _, ok := g["message"]; ok {
		t.Errorf("message = %#v, want it deleted by the user's null", g["message"])
	}
}

// The Helm v2 client's error when no Tiller runs, per cluster and prompt.
func TestPortForwardNoTillerPod(t *testing.T) {
	d := newDriver(t, &tiller.PortForward{Cluster: clusterName, REST: apiServer.RESTConfig()}, nil)
	if d.Transport() != "port-forward" {
		t.Errorf("Transport() = %q, want port-forward", d.Transport())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := d.List(ctx, nil)
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), `no running tiller pod (labels app=helm,name=tiller) in namespace "kube-system"`) ||
		!strings.Contains(err.Error(), clusterName) {
		t.Errorf("List() error = %v; want ErrClusterUnavailable saying no tiller pod runs, naming the cluster", err)
	}
}

// clusters.Open builds tiller drivers from config.
func TestOpen(t *testing.T) {
	reg, err := clusters.Open([]clusters.Config{{Name: clusterName, Driver: "tiller", Address: testTiller.Addr}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	rels, cerrs := reg.List(ctxFor(t), nil, []string{"shop"})
	if len(cerrs) != 0 || !reflect.DeepEqual(briefs(rels), []brief{apiLatest, frontendLatest}) {
		t.Errorf("List = %+v, %+v; want shop's releases", briefs(rels), cerrs)
	}
	st := reg.Statuses(ctxFor(t))
	if len(st) != 1 || !st[0].Reachable || st[0].Driver != release.DriverTiller || st[0].ServerVersion == nil || *st[0].ServerVersion != localcluster.TillerVersion {
		t.Errorf("Statuses() = %+v; want a reachable TILLER cluster at %s", st, localcluster.TillerVersion)
	}
}
