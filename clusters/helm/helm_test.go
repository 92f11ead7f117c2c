package helm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/release"
)

var _ clusters.Driver = (*helm.Driver)(nil)

// testCluster is the one API server all tests of this package share.
var testCluster *localcluster.APIServer

const clusterName = "helm-test"

// The fixture every test reads: what was installed, and what Helm must have
// recorded for it.
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
		fmt.Fprintf(os.Stderr, "helm driver tests: "+format+"\n", args...)
		return 1
	}
	bin, err := localcluster.BuildAPIServer(ctx, os.Stderr)
	if err != nil {
		return fail("build kube-apiserver: %v", err)
	}
	dir, err := os.MkdirTemp("", "helmgraph-helm-test-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	testCluster, err = localcluster.StartAPIServer(ctx, localcluster.APIServerOptions{Name: clusterName, Dir: dir, Binary: bin, Log: os.Stderr})
	if err != nil {
		return fail("start kube-apiserver: %v", err)
	}
	defer testCluster.Stop()
	if err := seed(ctx, testCluster.RESTConfig()); err != nil {
		return fail("seed: %v", err)
	}
	return m.Run()
}

func seed(ctx context.Context, rc *rest.Config) error {
	if err := localcluster.InstallRelease(ctx, rc, "shop", "frontend", "webapp", frontendV1); err != nil {
		return err
	}
	if err := localcluster.UpgradeRelease(ctx, rc, "shop", "frontend", "webapp", frontendV2); err != nil {
		return err
	}
	if err := localcluster.InstallRelease(ctx, rc, "shop", "api", "webapp", apiV1); err != nil {
		return err
	}
	err := localcluster.UpgradeRelease(ctx, rc, "shop", "api", "webapp", map[string]any{"breakMe": true})
	if err == nil || !strings.Contains(err.Error(), "Bad_Name") {
		return fmt.Errorf("upgrade of shop/api with breakMe: error = %v, want the API server's refusal of Bad_Name", err)
	}
	if err := localcluster.InstallRelease(ctx, rc, "store", "cache", "cache", nil); err != nil {
		return err
	}
	if err := localcluster.InstallRelease(ctx, rc, "cron", "nightly", "jobs", map[string]any{"schedule": "0 2 * * *"}); err != nil {
		return err
	}
	return localcluster.UninstallRelease(ctx, rc, "cron", "nightly", true)
}

func newDriver(t *testing.T, rc *rest.Config, storage string) *helm.Driver {
	t.Helper()
	d, err := helm.New(helm.Config{Cluster: clusterName, REST: rc, Storage: storage, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("helm.New() error = %v", err)
	}
	return d
}

var ctxFor = testenv.Ctx

type brief = testenv.Brief

var briefs = testenv.Briefs

var (
	webapp = release.Chart{Name: "webapp", Version: "1.4.0", AppVersion: "6.5.0"}
	cache  = release.Chart{Name: "cache", Version: "0.9.2", AppVersion: "7.2.4"}
	jobs   = release.Chart{Name: "jobs", Version: "2.1.0", AppVersion: "1.0.3"}

	frontendLatest = brief{Ref: clusterName + "/shop/frontend", Revision: 2, Status: release.StatusDeployed, RawStatus: "deployed", Chart: webapp}
	apiLatest      = brief{Ref: clusterName + "/shop/api", Revision: 2, Status: release.StatusFailed, RawStatus: "failed", Chart: webapp}
	cacheLatest    = brief{Ref: clusterName + "/store/cache", Revision: 1, Status: release.StatusDeployed, RawStatus: "deployed", Chart: cache}
	nightlyLatest  = brief{Ref: clusterName + "/cron/nightly", Revision: 1, Status: release.StatusUninstalled, RawStatus: "uninstalled", Chart: jobs}
)

// List and History are checked by the drivers' conformance suite
// (conformance_test.go); Get here checks more than the suite does.
func TestGet(t *testing.T) {
	d := newDriver(t, testCluster.RESTConfig(), "")
	frontend := release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}
	api := release.Ref{Cluster: clusterName, Namespace: "shop", Name: "api"}
	tests := []struct {
		name         string
		ref          release.Ref
		revision     int
		want         brief
		values       map[string]any
		computed     map[string]any // keys checked in ComputedValues
		manifest     []string       // substrings of the manifest
		notes        string
		descContains string
	}{
		{
			name: "latest", ref: frontend, revision: 0,
			want:     frontendLatest,
			values:   frontendV2,
			computed: map[string]any{"message": "v2", "replicaCount": 2, "breakMe": false, "service": map[string]any{"type": "ClusterIP", "port": 80}},
			manifest: []string{"kind: Deployment", "replicas: 2", `MESSAGE: "v2"`},
			notes:    `frontend serves "v2" on port 80.`, descContains: "Upgrade complete",
		},
		{
			name: "older revision", ref: frontend, revision: 1,
			want:     brief{Ref: frontend.String(), Revision: 1, Status: release.StatusSuperseded, RawStatus: "superseded", Chart: webapp},
			values:   frontendV1,
			computed: map[string]any{"message": "v1", "replicaCount": 1},
			manifest: []string{"replicas: 1", `MESSAGE: "v1"`},
			notes:    `frontend serves "v1" on port 80.`, descContains: "Install complete",
		},
		{
			name: "failed revision", ref: api, revision: 2,
			want:     apiLatest,
			values:   map[string]any{"breakMe": true},
			computed: map[string]any{"breakMe": true, "message": "hello from helmgraph"},
			manifest: []string{"name: Bad_Name"},
			notes:    `api serves "hello from helmgraph" on port 80.`, descContains: "Bad_Name",
		},
		{
			name: "deployed revision under a failed one", ref: api, revision: 1,
			want:     brief{Ref: api.String(), Revision: 1, Status: release.StatusDeployed, RawStatus: "deployed", Chart: webapp},
			values:   apiV1,
			computed: map[string]any{"message": "api", "service": map[string]any{"type": "ClusterIP", "port": 8080}},
			manifest: []string{"port: 8080"},
			notes:    `api serves "api" on port 8080.`, descContains: "Install complete",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Get(ctxFor(t), tt.ref, tt.revision)
			if err != nil {
				t.Fatalf("Get(%s, %d) error = %v", tt.ref, tt.revision, err)
			}
			if b := briefs([]release.Summary{got.Summary})[0]; b != tt.want {
				t.Errorf("Get(%s, %d) summary = %+v, want %+v", tt.ref, tt.revision, b, tt.want)
			}
			if !strings.Contains(got.Description, tt.descContains) {
				t.Errorf("Get(%s, %d).Description = %q, want it to contain %q", tt.ref, tt.revision, got.Description, tt.descContains)
			}
			if want := jsonish(t, tt.values); !reflect.DeepEqual(got.Values, want) {
				t.Errorf("Get(%s, %d).Values = %v, want %v", tt.ref, tt.revision, got.Values, want)
			}
			for k, v := range jsonish(t, tt.computed) {
				if !reflect.DeepEqual(got.ComputedValues[k], v) {
					t.Errorf("Get(%s, %d).ComputedValues[%q] = %v, want %v", tt.ref, tt.revision, k, got.ComputedValues[k], v)
				}
			}
			if img, _ := got.ComputedValues["image"].(map[string]any); img["repository"] != "registry.example/webapp" {
				t.Errorf("Get(%s, %d).ComputedValues[image] = %v, want the chart default repository", tt.ref, tt.revision, got.ComputedValues["image"])
			}
			for _, s := range tt.manifest {
				if !strings.Contains(got.Manifest, s) {
					t.Errorf("Get(%s, %d).Manifest does not contain %q:\n%s", tt.ref, tt.revision, s, got.Manifest)
				}
			}
			if !strings.HasPrefix(got.Notes, tt.notes) {
				t.Errorf("Get(%s, %d).Notes = %q, want it to start with %q", tt.ref, tt.revision, got.Notes, tt.notes)
			}
		})
	}

	t.Run("manifest resources", func(t *testing.T) {
		got, err := d.Get(ctxFor(t), frontend, 0)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, r := range got.Resources() {
			kinds = append(kinds, r.Kind+"/"+r.Name)
		}
		slices.Sort(kinds)
		if want := []string{"ConfigMap/frontend-config", "Deployment/frontend", "Service/frontend"}; !slices.Equal(kinds, want) {
			t.Errorf("Get(%s).Resources() = %v, want %v", frontend, kinds, want)
		}
	})
}

func TestNotFound(t *testing.T) {
	d := newDriver(t, testCluster.RESTConfig(), "")
	missing := release.Ref{Cluster: clusterName, Namespace: "shop", Name: "missing"}
	frontend := release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}
	elsewhere := release.Ref{Cluster: clusterName, Namespace: "nowhere", Name: "frontend"}
	tests := []struct {
		name string
		call func(context.Context) error
		want string // in the message
	}{
		{"get missing release", func(ctx context.Context) error { _, err := d.Get(ctx, missing, 0); return err }, `release "missing" in namespace "shop"`},
		{"get missing revision", func(ctx context.Context) error { _, err := d.Get(ctx, frontend, 9); return err }, `revision 9 of release "frontend"`},
		{"get in missing namespace", func(ctx context.Context) error { _, err := d.Get(ctx, elsewhere, 0); return err }, `namespace "nowhere"`},
		{"history of missing release", func(ctx context.Context) error { _, err := d.History(ctx, missing); return err }, `release "missing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(ctxFor(t))
			if !errors.Is(err, release.ErrNotFound) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want release.ErrNotFound naming %s", err, tt.want)
			}
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	d := newDriver(t, testCluster.RESTConfig(), "")
	for _, ref := range []release.Ref{
		{Cluster: clusterName, Namespace: "shop"},
		{Cluster: clusterName, Name: "frontend"},
		{Cluster: clusterName, Namespace: "shop", Name: "a,name=b"},
		{Cluster: clusterName, Namespace: "Shop!", Name: "frontend"},
	} {
		if _, err := d.Get(ctxFor(t), ref, 0); !errors.Is(err, release.ErrInvalidArgument) {
			t.Errorf("Get(%+v) error = %v, want release.ErrInvalidArgument", ref, err)
		}
	}
	if _, err := d.Get(ctxFor(t), release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}, -1); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("Get(revision -1) error = %v, want release.ErrInvalidArgument", err)
	}
}

func TestVersion(t *testing.T) {
	d := newDriver(t, testCluster.RESTConfig(), "")
	got, err := d.Version(ctxFor(t))
	if err != nil {
		t.Fatalf("Version() error = %v", err)
	}
	// The test server is stamped with the version of k8s.io/kubernetes it is built from.
	if !strings.HasPrefix(got, "v1.37.") {
		t.Errorf("Version() = %q, want a Kubernetes git version like v1.37.2", got)
	}
}

func TestForbidden(t *testing.T) {
	rc := testCluster.RESTConfig()
	// The admin may impersonate; the impersonated user has no RBAC grants.
	rc.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	d := newDriver(t, rc, "")
	_, err := d.List(ctxFor(t), []string{"shop"})
	if !errors.Is(err, release.ErrForbidden) {
		t.Errorf("List() as an unprivileged user: error = %v, want release.ErrForbidden", err)
	}
}

// Releases Helm stored in ConfigMaps are found by a driver configured for
// them, and not by one reading Secrets.
func TestConfigMapStorage(t *testing.T) {
	rc := testCluster.RESTConfig()
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	if err := cfg.Init(helm.NewRESTClientGetter(rc, "shop"), "shop", helm.StorageConfigMap); err != nil {
		t.Fatal(err)
	}
	ch, err := localcluster.LoadChart("jobs")
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.Namespace, in.ReleaseName, in.WaitStrategy, in.Timeout = "shop", "cm-job", kube.HookOnlyStrategy, time.Minute
	if _, err := in.RunWithContext(ctxFor(t), ch, map[string]any{"suspend": true}); err != nil {
		t.Fatalf("install with configmap storage: %v", err)
	}
	t.Cleanup(func() {
		un := action.NewUninstall(cfg)
		un.WaitStrategy = kube.HookOnlyStrategy
		if _, err := un.Run("cm-job"); err != nil {
			t.Errorf("uninstall cm-job: %v", err)
		}
	})

	cm := newDriver(t, rc, "configmap")
	got, err := cm.List(ctxFor(t), []string{"shop"})
	if err != nil {
		t.Fatal(err)
	}
	want := []brief{{Ref: clusterName + "/shop/cm-job", Revision: 1, Status: release.StatusDeployed, RawStatus: "deployed", Chart: jobs}}
	if !reflect.DeepEqual(briefs(got), want) {
		t.Errorf("configmap driver List(shop) = %+v, want %+v", briefs(got), want)
	}
	r, err := cm.Get(ctxFor(t), release.Ref{Cluster: clusterName, Namespace: "shop", Name: "cm-job"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Values["suspend"] != true || !strings.Contains(r.Notes, "(suspended)") {
		t.Errorf("configmap driver Get(cm-job) values %v notes %q, want suspend true and a suspended note", r.Values, r.Notes)
	}

	secrets := newDriver(t, rc, "secret")
	if _, err := secrets.Get(ctxFor(t), release.Ref{Cluster: clusterName, Namespace: "shop", Name: "cm-job"}, 0); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("secret driver Get(cm-job) error = %v, want release.ErrNotFound", err)
	}
}

// An unreachable cluster must fail with ErrClusterUnavailable as soon as the
// caller's deadline passes, and the error must not carry credentials.
func TestUnreachableCluster(t *testing.T) {
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	// A listener that never accepts: connections hang in the backlog, so
	// only the deadline ends the call.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })

	const token = "sekret-token-do-not-print"
	for _, tc := range []struct{ name, addr string }{{"closed port", closedPort}, {"silent listener", silent.Addr().String()}} {
		d := newDriver(t, &rest.Config{Host: "https://" + tc.addr, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, "")
		ref := release.Ref{Cluster: clusterName, Namespace: "shop", Name: "frontend"}
		calls := []struct {
			name string
			call func(context.Context) error
		}{
			{"List", func(ctx context.Context) error { _, err := d.List(ctx, nil); return err }},
			{"Get", func(ctx context.Context) error { _, err := d.Get(ctx, ref, 0); return err }},
			{"Get revision", func(ctx context.Context) error { _, err := d.Get(ctx, ref, 1); return err }},
			{"History", func(ctx context.Context) error { _, err := d.History(ctx, ref); return err }},
			{"Version", func(ctx context.Context) error { _, err := d.Version(ctx); return err }},
		}
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
				defer cancel()
				start := time.Now()
				err := c.call(ctx)
				took := time.Since(start)
				if !errors.Is(err, release.ErrClusterUnavailable) {
					t.Errorf("error = %v, want release.ErrClusterUnavailable", err)
				}
				if err != nil && (!strings.Contains(err.Error(), clusterName) || strings.Contains(err.Error(), token)) {
					t.Errorf("error %q should name cluster %q and never contain the token", err, clusterName)
				}
				if took > 2*time.Second {
					t.Errorf("took %v with a 300ms deadline, want it to return promptly", took)
				}
			})
		}
	}
}

// jsonish returns v as it comes back from a JSON round trip (numbers become
// float64), which is how Helm stores values.
func jsonish(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// SeedDemo builds the demo's releases with the real SDK; the driver must see
// them with every status the demo means to show, and seeding twice must not
// fail or add revisions.
func TestSeedDemo(t *testing.T) {
	rc := testCluster.RESTConfig()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	var log strings.Builder
	if err := localcluster.SeedDemo(ctx, rc, 0, &log); err != nil {
		t.Fatalf("SeedDemo(0) error = %v; log:\n%s", err, log.String())
	}
	if err := localcluster.SeedDemo(ctx, rc, 0, &log); err != nil {
		t.Fatalf("SeedDemo(0) a second time: error = %v", err)
	}
	if err := localcluster.SeedDemo(ctx, rc, 7, &log); err == nil {
		t.Errorf("SeedDemo(7) error = nil, want an error: there are two demo clusters")
	}

	d := newDriver(t, rc, "")
	got, err := d.List(ctxFor(t), []string{"web", "data", "batch"})
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, s := range got {
		statuses[s.Ref.Namespace+"/"+s.Ref.Name] = fmt.Sprintf("%s@%d", s.Status, s.Revision)
	}
	want := map[string]string{
		"web/frontend":         "DEPLOYED@3",
		"web/api":              "FAILED@2",
		"data/cache":           "DEPLOYED@2",
		"batch/nightly-report": "UNINSTALLED@1",
		"batch/cleanup":        "DEPLOYED@1",
	}
	if !reflect.DeepEqual(statuses, want) {
		t.Errorf("demo releases = %v, want %v", statuses, want)
	}
}

func TestLoadChart(t *testing.T) {
	for _, name := range []string{"webapp", "cache", "jobs"} {
		ch, err := localcluster.LoadChart(name)
		if err != nil {
			t.Errorf("LoadChart(%q) error = %v", name, err)
			continue
		}
		if err := ch.Validate(); err != nil || ch.Metadata.Name != name || ch.AppVersion() == "" || len(ch.Templates) < 3 {
			t.Errorf("LoadChart(%q) = chart %q appVersion %q with %d templates, validation error %v; want a valid chart of that name with an appVersion and templates",
				name, ch.Metadata.Name, ch.AppVersion(), len(ch.Templates), err)
		}
	}
	for _, name := range []string{"", "missing", "../charts", "webapp/templates"} {
		if _, err := localcluster.LoadChart(name); err == nil {
			t.Errorf("LoadChart(%q) error = nil, want an error", name)
		}
	}
}
