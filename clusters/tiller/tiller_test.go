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
	"slices"
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
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/release"
)

var (
	_ clusters.Driver  = (*tiller.Driver)(nil)
	_ clusters.Watcher = (*tiller.Driver)(nil)
)

const clusterName = "tiller-test"

// Shared by every test: one API server, one Tiller storing releases in it.
var (
	apiServer  *localcluster.APIServer
	testTiller *localcluster.Tiller
	tillerBin  string
	testDir    string
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
	if err := localcluster.SeedTiller(ctx, testTiller.Addr); err != nil {
		return fail("seed: %v", err)
	}
	code := m.Run()
	if bigTiller != nil {
		bigTiller.Stop()
	}
	return code
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

var ctxFor = testenv.Ctx

type brief = testenv.Brief

var briefs = testenv.Briefs

var (
	webapp         = release.Chart{Name: "webapp", Version: "1.4.0", AppVersion: "6.5.0"}
	frontendLatest = brief{Ref: clusterName + "/shop/frontend", Revision: 2, Status: release.StatusDeployed, RawStatus: "DEPLOYED", Chart: webapp}
	apiLatest      = brief{Ref: clusterName + "/shop/api", Revision: 2, Status: release.StatusFailed, RawStatus: "FAILED", Chart: webapp}
)

// The reads every driver shares (list, get, history, errors) on the seeded
// fixture, directly.
func TestReads(t *testing.T) {
	testenv.DriverReads(t, direct(t), testenv.V2Fixture(clusterName, release.DriverTiller))
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
	case int:
		return float64(t)
	}
	return v
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

// bigTiller is a Tiller with memory storage holding releases whose charts
// carry incompressible data, so that one ListReleases message exceeds gRPC's
// default 4 MiB receive limit; other tests' Tiller does not see them.
var (
	bigOnce   sync.Once
	bigTiller *localcluster.Tiller
	bigErr    error
)

func seedBig(t *testing.T) string {
	t.Helper()
	bigOnce.Do(func() {
		bigTiller, bigErr = localcluster.StartTiller(t.Context(), localcluster.TillerOptions{Binary: tillerBin, Dir: filepath.Join(testDir, "big-tiller"),
			Kubeconfig: apiServer.KubeconfigPath, Storage: "memory"})
		if bigErr != nil {
			return
		}
		var c *localcluster.TillerClient
		if c, bigErr = localcluster.DialTiller(bigTiller.Addr); bigErr != nil {
			return
		}
		defer c.Close()
		for i := range 8 {
			ch, err := localcluster.TillerChart("cache")
			if err != nil {
				bigErr = err
				return
			}
			blob := make([]byte, 640<<10)
			rand.Read(blob)
			ch.Files = append(ch.Files, &anypb.Any{TypeUrl: "files/blob.bin", Value: blob})
			if bigErr = c.InstallChart(t.Context(), "big", fmt.Sprintf("big-%d", i), ch, nil); bigErr != nil {
				return
			}
		}
	})
	if bigErr != nil {
		t.Fatalf("big releases: %v", bigErr)
	}
	return bigTiller.Addr
}

// A list larger than gRPC's default limit in one message: the driver reads
// it, a client with default limits gets ResourceExhausted.
func TestListLargeMessages(t *testing.T) {
	addr := seedBig(t)
	ctx := ctxFor(t)
	got, err := newDriver(t, tiller.Direct{Addr: addr}, nil).List(ctx, nil)
	if err != nil || len(got) != 8 {
		t.Fatalf("List() = %d releases, %v; want 8", len(got), err)
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
	d := newDriver(t, tiller.Direct{Addr: cutProxy(t, seedBig(t), 1<<20)}, nil)
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

// Through the API server to the Tiller pod, as the Helm v2 client: a node
// agent answers the kubelet's port-forward endpoint for the pod and
// connects it to the test Tiller. The forward is shared, and reopened when
// it drops (the agent restarting cuts every forwarded connection).
func TestPortForward(t *testing.T) {
	ctx := ctxFor(t)
	agent, err := localcluster.StartNodeAgent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Stop)
	rc := apiServer.RESTConfig()
	if err := localcluster.RegisterNode(ctx, rc, agent); err != nil {
		t.Fatal(err)
	}
	if err := localcluster.RegisterTillerPod(ctx, rc, agent, testTiller.Addr); err != nil {
		t.Fatal(err)
	}
	pf := &tiller.PortForward{Cluster: clusterName, REST: rc}
	d := newDriver(t, pf, nil)

	t.Run("reads", func(t *testing.T) {
		testenv.DriverReads(t, d, testenv.V2Fixture(clusterName, release.DriverTiller))
	})
	if v, err := d.Version(ctx); err != nil || v != localcluster.TillerVersion {
		t.Errorf("Version() = %q, %v; want %q", v, err, localcluster.TillerVersion)
	}
	if n := pf.Opened(); n != 1 {
		t.Errorf("forwards opened = %d, want 1 shared by every call", n)
	}

	agent.Stop()
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := d.List(ctx, []string{"shop"})
		if err == nil {
			if !reflect.DeepEqual(briefs(got), []brief{apiLatest, frontendLatest}) {
				t.Errorf("List after the forward dropped = %+v, want shop's releases", briefs(got))
			}
			break
		}
		// The first call may see the dropped connection; it must say so
		// per cluster, and a later one must succeed.
		if !errors.Is(err, release.ErrClusterUnavailable) {
			t.Fatalf("List after the forward dropped: error = %v, want ErrClusterUnavailable or success", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("List still failing 15s after the forward dropped: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := pf.Opened(); n != 2 {
		t.Errorf("forwards opened = %d, want 2 (the first, and one reopened after it dropped)", n)
	}

	// Watch's storage watch, through the same forward (storagewatch_test.go).
	storageWatchTests(t, agent)
}

// sinkLog records what a Watch reports.
type sinkLog struct {
	mu     sync.Mutex
	events []string
}

func (s *sinkLog) add(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *sinkLog) Replace(_ context.Context, rels []release.Summary) error {
	s.add(fmt.Sprintf("replace %d", len(rels)))
	return nil
}

func (s *sinkLog) Upsert(_ context.Context, r release.Summary) error {
	s.add(fmt.Sprintf("upsert %s v%d %s", r.Ref.Name, r.Revision, r.Status))
	return nil
}

func (s *sinkLog) Delete(_ context.Context, ref release.Ref) error {
	s.add("delete " + ref.Name)
	return nil
}

func (s *sinkLog) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		found := slices.Contains(s.events, want)
		s.mu.Unlock()
		if found {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("watch did not report %q within 10s; events: %q", want, s.events)
}

// Tiller has no watch API: Watch polls, and reports installs, upgrades and
// deletions as changes after the initial set.
func TestWatch(t *testing.T) {
	ctx := ctxFor(t)
	tl, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath, Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.Stop)
	c, err := localcluster.DialTiller(tl.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Install(ctx, "watch", "first", "jobs", nil); err != nil {
		t.Fatal(err)
	}
	d, err := tiller.New(tiller.Config{Cluster: clusterName, Transport: tiller.Direct{Addr: tl.Addr}, PollInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sink := &sinkLog{}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Watch(wctx, sink) }()
	sink.waitFor(t, "replace 1")
	if err := c.Install(ctx, "watch", "second", "jobs", nil); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "upsert second v1 DEPLOYED")
	if err := c.Upgrade(ctx, "first", "jobs", map[string]any{"suspend": true}); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "upsert first v2 DEPLOYED")
	if err := c.Delete(ctx, "second", true); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "delete second")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch() after cancel = %v, want nil", err)
	}
	if err := c.Delete(ctx, "first", true); err != nil {
		t.Fatal(err)
	}
}

// A Tiller that goes away is a per-cluster error, and is used again soon
// after it comes back.
func TestTillerRestart(t *testing.T) {
	ctx := ctxFor(t)
	tl, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath, Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.Stop)
	d := newDriver(t, tiller.Direct{Addr: tl.Addr}, nil)
	if _, err := d.Version(ctx); err != nil {
		t.Fatalf("Version() error = %v", err)
	}
	tl.Stop()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = d.List(cctx, nil)
	cancel()
	if !errors.Is(err, release.ErrClusterUnavailable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("List() with tiller down: error = %v; want ErrClusterUnavailable saying the connection was refused", err)
	}
	if err := tl.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err = d.List(ctx, nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("List() still failing 10s after tiller came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
