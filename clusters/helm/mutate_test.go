package helm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

var _ clusters.Mutator = (*helm.Driver)(nil)

// progress records what an operation reports.
type progress struct {
	mu   sync.Mutex
	msgs []string
}

func (p *progress) Progress(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, s)
}

func (p *progress) contains(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func mutateChart(t *testing.T, version, extraTemplate string) ops.Chart {
	c := testenv.Chart{
		Name: "mut", Version: version, AppVersion: "v" + version,
		Values: map[string]any{"message": "default", "replicas": 1},
		Templates: map[string]string{"cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
data:
  message: {{ .Values.message | quote }}
  replicas: {{ .Values.replicas | quote }}
`},
	}
	if extraTemplate != "" {
		c.Templates["extra.yaml"] = extraTemplate
	}
	return ops.Chart{Name: "mut", Version: version, Source: "test", Archive: testenv.PackageChart(t, c)}
}

func TestMutateLifecycle(t *testing.T) {
	d := newDriver(t, testCluster.RESTConfig(), "")
	ctx := ctxFor(t)
	ref := release.Ref{Cluster: clusterName, Namespace: "mutate", Name: "life"}
	v1, v2 := mutateChart(t, "1.0.0", ""), mutateChart(t, "2.0.0", "")

	p := &progress{}
	res, err := d.Install(ctx, ops.InstallRequest{Ref: ref, Chart: v1, Values: map[string]any{"message": "one"}, CreateNamespace: true}, p)
	if err != nil {
		t.Fatalf("Install() error = %v", err)
	}
	if s := res.Release; s == nil || s.Revision != 1 || s.Status != release.StatusDeployed || s.Chart.Version != "1.0.0" {
		t.Errorf("Install() release = %+v, want revision 1 deployed of 1.0.0", s)
	}
	if !p.contains("helm: ") {
		t.Errorf("Install() reported %q, want Helm's progress", p.msgs)
	}
	if _, err := d.Install(ctx, ops.InstallRequest{Ref: ref, Chart: v1}, &progress{}); !errors.Is(err, release.ErrConflict) {
		t.Errorf("Install() of an existing release: error = %v, want ErrConflict", err)
	}

	// Dry-run upgrade with reused values: nothing stored, a diff returned.
	res, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: v2, Values: map[string]any{"replicas": 3}, ReuseValues: true, Options: ops.Options{DryRun: true}}, &progress{})
	if err != nil {
		t.Fatalf("Upgrade(dry run) error = %v", err)
	}
	dr := res.DryRun
	if dr == nil || dr.Revision != 2 || dr.DeployedRevision != 1 || dr.Values["message"] != "one" || dr.ComputedValues["replicas"] != 3 {
		t.Fatalf("Upgrade(dry run) = %+v, want revision 2 over 1 with message reused and replicas 3", dr)
	}
	if !strings.Contains(dr.ManifestDiff, `-  replicas: "1"`) || !strings.Contains(dr.ManifestDiff, `+  replicas: "3"`) || strings.Contains(dr.ManifestDiff, "-  message") || strings.Contains(dr.ManifestDiff, "+  message") {
		t.Errorf("manifest diff:\n%s\nwant replicas 1 → 3 and message unchanged", dr.ManifestDiff)
	}
	if hist, _ := d.History(ctx, ref); len(hist) != 1 {
		t.Errorf("after a dry run: %d revisions, want 1", len(hist))
	}

	res, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: v2, Values: map[string]any{"replicas": 3}, ReuseValues: true}, &progress{})
	if err != nil || res.Release.Revision != 2 || res.Release.Status != release.StatusDeployed {
		t.Fatalf("Upgrade() = %+v, %v; want revision 2 deployed", res, err)
	}
	got, err := d.Get(ctx, ref, 2)
	if err != nil || got.Values["message"] != "one" || got.Values["replicas"] != float64(3) {
		t.Errorf("revision 2 values = %v, %v; want message reused and replicas 3", got.Values, err)
	}

	res, err = d.Rollback(ctx, ops.RollbackRequest{Ref: ref}, &progress{})
	if err != nil || res.Release.Revision != 3 || res.Release.Chart.Version != "1.0.0" {
		t.Fatalf("Rollback() = %+v, %v; want revision 3 of 1.0.0", res, err)
	}
	if _, err := d.Rollback(ctx, ops.RollbackRequest{Ref: ref, Revision: 42}, &progress{}); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("Rollback(revision 42) error = %v, want ErrInvalidArgument", err)
	}

	res, err = d.Uninstall(ctx, ops.UninstallRequest{Ref: ref, KeepHistory: true}, &progress{})
	if err != nil || res.Release == nil || res.Release.Status != release.StatusUninstalled {
		t.Fatalf("Uninstall(keepHistory) = %+v, %v; want the last revision uninstalled", res, err)
	}
	if _, err := d.Uninstall(ctx, ops.UninstallRequest{Ref: ref}, &progress{}); err != nil {
		t.Errorf("Uninstall() of an uninstalled release (purge) error = %v", err)
	}
	if _, err := d.Get(ctx, ref, 0); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("after purge Get() error = %v, want ErrNotFound", err)
	}
}

func TestMutateErrors(t *testing.T) {
	d := newDriver(t, testCluster.RESTConfig(), "")
	ctx := ctxFor(t)
	missing := release.Ref{Cluster: clusterName, Namespace: "mutate", Name: "missing"}
	if _, err := d.Upgrade(ctx, ops.UpgradeRequest{Ref: missing, Chart: mutateChart(t, "1.0.0", "")}, &progress{}); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("Upgrade(missing) error = %v, want ErrNotFound", err)
	}
	norender := mutateChart(t, "1.0.0", `{{ fail "cannot render this" }}`)
	err := d.ValidateInstall(ctx, ops.InstallRequest{Ref: release.Ref{Cluster: clusterName, Namespace: "mutate", Name: "norender"}, Chart: norender, CreateNamespace: true})
	if !errors.Is(err, release.ErrInvalidArgument) || !strings.Contains(err.Error(), "cannot render this") {
		t.Errorf("ValidateInstall(chart that fails) error = %v, want ErrInvalidArgument with the chart's message", err)
	}
	if _, err := d.Get(ctx, release.Ref{Cluster: clusterName, Namespace: "mutate", Name: "norender"}, 0); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("validation stored a release: Get error = %v", err)
	}
	broken := ops.Chart{Name: "x", Source: "upload x.tgz", Archive: []byte("nope")}
	if _, err := d.Install(ctx, ops.InstallRequest{Ref: missing, Chart: broken}, &progress{}); !errors.Is(err, release.ErrInvalidArgument) || !strings.Contains(err.Error(), "x.tgz") {
		t.Errorf("Install(broken archive) error = %v, want ErrInvalidArgument naming it", err)
	}

	// A cluster that does not answer: the operation ends with its context.
	un := newDriver(t, &rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, "")
	cctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = un.Install(cctx, ops.InstallRequest{Ref: missing, Chart: mutateChart(t, "1.0.0", "")}, &progress{})
	if !errors.Is(err, release.ErrClusterUnavailable) {
		t.Errorf("Install() on an unreachable cluster: error = %v, want ErrClusterUnavailable", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Install() on an unreachable cluster took %v", took)
	}
}

func TestCheckAccess(t *testing.T) {
	if err := newDriver(t, testCluster.RESTConfig(), "").CheckAccess(ctxFor(t), "mutate"); err != nil {
		t.Errorf("CheckAccess() as admin: error = %v", err)
	}
	rc := testCluster.RESTConfig()
	// The admin may impersonate; the impersonated user has no RBAC grants.
	rc.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	for _, storage := range []string{"secret", "configmap"} {
		err := newDriver(t, rc, storage).CheckAccess(ctxFor(t), "mutate")
		if !errors.Is(err, release.ErrForbidden) || !strings.Contains(err.Error(), `namespace "mutate"`) {
			t.Errorf("CheckAccess() as nobody with %s storage: error = %v, want ErrForbidden naming the namespace", storage, err)
		}
	}
}
