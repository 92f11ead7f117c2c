package tiller_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

var _ clusters.Mutator = (*tiller.Driver)(nil)

// chartArchive is one of internal/localcluster's charts, packaged with
// extra files added or replaced.
func chartArchive(t *testing.T, name string, extra map[string]string) ops.Chart {
	return ops.Chart{Name: name, Version: "1.4.0", Source: "test", Archive: testenv.LocalChartArchive(t, name, extra)}
}

type progress struct{ lines []string }

func (p *progress) Progress(s string) { p.lines = append(p.lines, s) }

func TestLoadArchive(t *testing.T) {
	c := chartArchive(t, "webapp", map[string]string{"README.md": "hello", "charts/sub/Chart.yaml": "name: sub\nversion: 0.1.0\n",
		"charts/sub/values.yaml": "x: 1\n", "charts/sub/templates/cm.yaml": "kind: ConfigMap\n"})
	ch, err := tiller.LoadArchive(c.Archive)
	if err != nil {
		t.Fatal(err)
	}
	var templates []string
	for _, tp := range ch.Templates {
		templates = append(templates, tp.Name)
	}
	if m := ch.Metadata; m.Name != "webapp" || m.Version != "1.4.0" || m.AppVersion != "6.5.0" ||
		!strings.Contains(ch.Values.Raw, "replicaCount: 1") || len(ch.Files) != 1 || ch.Files[0].TypeUrl != "README.md" ||
		len(ch.Dependencies) != 1 || ch.Dependencies[0].Metadata.Name != "sub" || len(ch.Dependencies[0].Templates) != 1 ||
		!strings.Contains(strings.Join(templates, ","), "templates/deployment.yaml") {
		t.Errorf("LoadArchive = metadata %v, templates %v, files %v, deps %d", ch.Metadata, templates, ch.Files, len(ch.Dependencies))
	}
	if _, err := tiller.LoadArchive([]byte("not a tgz")); err == nil {
		t.Error("LoadArchive(garbage) error = nil")
	}
}

// Changes through Tiller, on a Tiller of their own (memory storage) so that
// the read fixture stays as seeded.
func TestMutations(t *testing.T) {
	ctx := ctxFor(t)
	tl, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath, Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.Stop)
	d := newDriver(t, tiller.Direct{Addr: tl.Addr}, nil)
	ref := release.Ref{Cluster: clusterName, Namespace: "ops", Name: "web"}
	webapp := chartArchive(t, "webapp", nil)
	p := &progress{}

	res, err := d.Install(ctx, ops.InstallRequest{Ref: ref, Chart: webapp, Values: map[string]any{"message": "one"}}, p)
	if err != nil || res.Release == nil || res.Release.Revision != 1 || res.Release.Status != release.StatusDeployed || res.Release.Ref != ref {
		t.Fatalf("Install = %+v, %v; want revision 1 DEPLOYED", res, err)
	}
	if len(p.lines) == 0 {
		t.Error("Install reported no progress")
	}
	if _, err := d.Install(ctx, ops.InstallRequest{Ref: ref, Chart: webapp}, p); !errors.Is(err, release.ErrConflict) {
		t.Errorf("Install of an existing name: error = %v, want ErrConflict", err)
	}

	res, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: webapp, Values: map[string]any{"message": "two"}, Options: ops.Options{DryRun: true}}, p)
	if err != nil || res.DryRun == nil || res.DryRun.Revision != 2 || res.DryRun.DeployedRevision != 1 ||
		!strings.Contains(res.DryRun.ManifestDiff, `-  MESSAGE: "one"`) || !strings.Contains(res.DryRun.ManifestDiff, `+  MESSAGE: "two"`) ||
		!strings.Contains(res.DryRun.ValuesDiff, "+message: two") {
		t.Fatalf("Upgrade dry run = %+v, %v; want revision 2 against 1 with diffs", res.DryRun, err)
	}
	if got, err := d.Get(ctx, ref, 0); err != nil || got.Revision != 1 {
		t.Errorf("after a dry run, Get = revision %v, %v; want 1", got, err)
	}

	res, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: webapp, Values: map[string]any{"message": "two"}}, p)
	if err != nil || res.Release.Revision != 2 || res.Release.Status != release.StatusDeployed {
		t.Fatalf("Upgrade = %+v, %v; want revision 2 DEPLOYED", res, err)
	}
	_, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: webapp, Values: map[string]any{"breakMe": true}, Atomic: true}, p)
	if !errors.Is(err, release.ErrInvalidArgument) || !strings.Contains(err.Error(), "Bad_Name") {
		t.Errorf("Upgrade the API server refuses: error = %v, want ErrInvalidArgument naming Bad_Name", err)
	}
	// Atomic: revision 3 failed, revision 4 rolled back to 2.
	if got, err := d.Get(ctx, ref, 0); err != nil || got.Revision != 4 || got.Status != release.StatusDeployed || got.Values["message"] != "two" {
		t.Errorf("after an atomic upgrade failed, Get = %+v, %v; want revision 4 DEPLOYED with message two", got, err)
	}

	res, err = d.Rollback(ctx, ops.RollbackRequest{Ref: ref, Revision: 1}, p)
	if err != nil || res.Release.Revision != 5 {
		t.Fatalf("Rollback to 1 = %+v, %v; want revision 5", res, err)
	}
	if got, err := d.Get(ctx, ref, 0); err != nil || got.Values["message"] != "one" {
		t.Errorf("after rollback to 1, values = %v, %v; want message one", got.Values, err)
	}
	other := release.Ref{Cluster: clusterName, Namespace: "elsewhere", Name: "web"}
	if _, err := d.Rollback(ctx, ops.RollbackRequest{Ref: other}, p); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("Rollback in another namespace: error = %v, want ErrNotFound", err)
	}

	if err := d.ValidateInstall(ctx, ops.InstallRequest{Ref: release.Ref{Cluster: clusterName, Namespace: "ops", Name: "broken"},
		Chart: chartArchive(t, "webapp", map[string]string{"templates/bad.yaml": "{{ .Values.nope.deeper }}"})}); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("ValidateInstall of a chart that does not render: error = %v, want ErrInvalidArgument", err)
	}
	if err := d.ValidateUpgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: webapp}); err != nil {
		t.Errorf("ValidateUpgrade = %v, want nil", err)
	}
	if got, _ := d.History(ctx, ref); len(got) != 5 {
		t.Errorf("validations recorded revisions: history has %d, want 5", len(got))
	}

	res, err = d.Uninstall(ctx, ops.UninstallRequest{Ref: ref, KeepHistory: true}, p)
	if err != nil || res.Release == nil || res.Release.Status != release.StatusUninstalled || res.Release.RawStatus != "DELETED" {
		t.Fatalf("Uninstall keeping history = %+v, %v; want UNINSTALLED (DELETED)", res, err)
	}
	if _, err := d.Uninstall(ctx, ops.UninstallRequest{Ref: ref}, p); err != nil {
		t.Fatalf("Uninstall (purge) error = %v", err)
	}
	if _, err := d.Get(ctx, ref, 0); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("after purge, Get error = %v, want ErrNotFound", err)
	}
}

// `helm test` through Tiller. No kubelet runs test pods here: Tiller creates
// the pod, times out waiting for it and records the test as failed.
func TestTestHooks(t *testing.T) {
	ctx := ctxFor(t)
	tl, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath, Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.Stop)
	d := newDriver(t, tiller.Direct{Addr: tl.Addr}, nil)
	plain := release.Ref{Cluster: clusterName, Namespace: "tests", Name: "plain"}
	withTest := release.Ref{Cluster: clusterName, Namespace: "tests", Name: "tested"}
	p := &progress{}
	if _, err := d.Install(ctx, ops.InstallRequest{Ref: plain, Chart: chartArchive(t, "jobs", nil)}, p); err != nil {
		t.Fatal(err)
	}
	res, err := d.Test(ctx, ops.TestRequest{Ref: plain, Timeout: 2 * time.Second}, p)
	if err != nil || len(res.Tests) != 0 || res.Release == nil || res.Release.Ref != plain {
		t.Errorf("Test of a release without tests = %+v, %v; want no tests and the release", res, err)
	}
	hook := `apiVersion: v1
kind: Pod
metadata:
  name: "{{ .Release.Name }}-smoke"
  annotations:
    "helm.sh/hook": test-success
spec:
  restartPolicy: Never
  containers:
    - name: smoke
      image: registry.example/smoke:1
`
	if _, err := d.Install(ctx, ops.InstallRequest{Ref: withTest, Chart: chartArchive(t, "jobs", map[string]string{"templates/tests/smoke.yaml": hook})}, p); err != nil {
		t.Fatal(err)
	}
	p = &progress{}
	res, err = d.Test(ctx, ops.TestRequest{Ref: withTest, Timeout: 2 * time.Second}, p)
	if err != nil || len(res.Tests) != 1 || res.Tests[0].Name != "tested-smoke" || res.Tests[0].Phase != "Failed" || res.Tests[0].StartedAt == nil {
		t.Errorf("Test = %+v, %v; want tested-smoke Failed (no kubelet runs it)", res, err)
	}
	if len(p.lines) == 0 {
		t.Error("Test reported no progress")
	}
}
