package swift_test

import (
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/swift"
	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

var _ clusters.Mutator = (*swift.Driver)(nil)

// chartArchive is one of internal/localcluster's charts, packaged with
// extra files added or replaced.
func chartArchive(t *testing.T, name string, extra map[string]string) ops.Chart {
	return ops.Chart{Name: name, Version: "1.4.0", Source: "test", Archive: testenv.LocalChartArchive(t, name, extra)}
}

type progress struct{ lines []string }

func (p *progress) Progress(s string) { p.lines = append(p.lines, s) }

// Changes through swift's write routes, on a Tiller of their own (memory
// storage) behind a gateway of their own.
func TestMutations(t *testing.T) {
	ctx := ctxFor(t)
	tillerBin, err := localcluster.BuildTiller(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath, Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.Stop)
	g, err := testenv.NewSwiftGateway(tl.Addr, tiller.ClientVersion)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	d := newDriver(t, swift.Direct{URL: srv.URL})
	ref := release.Ref{Cluster: clusterName, Namespace: "ops", Name: "web"}
	webapp := chartArchive(t, "webapp", map[string]string{"README.md": "# webapp\n"})
	p := &progress{}

	res, err := d.Install(ctx, ops.InstallRequest{Ref: ref, Chart: webapp, Values: map[string]any{"message": "one"}}, p)
	if err != nil || res.Release == nil || res.Release.Revision != 1 || res.Release.Status != release.StatusDeployed || res.Release.Ref != ref ||
		res.Release.Driver != release.DriverSwift {
		t.Fatalf("Install = %+v, %v; want revision 1 DEPLOYED", res, err)
	}
	if !strings.Contains(strings.Join(p.lines, "\n"), "1 plain file(s) of the chart are not sent") {
		t.Errorf("Install progress = %q; want it to say the README was not sent", p.lines)
	}
	if _, err := d.Install(ctx, ops.InstallRequest{Ref: ref, Chart: webapp}, p); !errors.Is(err, release.ErrConflict) {
		t.Errorf("Install of an existing name: error = %v, want ErrConflict", err)
	}
	res, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: webapp, Values: map[string]any{"message": "two"}, Options: ops.Options{DryRun: true}}, p)
	if err != nil || res.DryRun == nil || res.DryRun.Revision != 2 || res.DryRun.DeployedRevision != 1 ||
		!strings.Contains(res.DryRun.ManifestDiff, `+  MESSAGE: "two"`) {
		t.Fatalf("Upgrade dry run = %+v, %v; want revision 2 against 1 with diffs", res.DryRun, err)
	}
	res, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: webapp, Values: map[string]any{"message": "two"}}, p)
	if err != nil || res.Release.Revision != 2 {
		t.Fatalf("Upgrade = %+v, %v; want revision 2", res, err)
	}
	_, err = d.Upgrade(ctx, ops.UpgradeRequest{Ref: ref, Chart: webapp, Values: map[string]any{"breakMe": true}, Atomic: true}, p)
	if !errors.Is(err, release.ErrInvalidArgument) || !strings.Contains(err.Error(), "Bad_Name") {
		t.Errorf("Upgrade the API server refuses: error = %v, want ErrInvalidArgument naming Bad_Name", err)
	}
	if got, err := d.Get(ctx, ref, 0); err != nil || got.Revision != 4 || got.Values["message"] != "two" {
		t.Errorf("after an atomic upgrade failed, Get = %+v, %v; want revision 4 with message two", got, err)
	}
	res, err = d.Rollback(ctx, ops.RollbackRequest{Ref: ref, Revision: 1}, p)
	if err != nil || res.Release.Revision != 5 {
		t.Fatalf("Rollback to 1 = %+v, %v; want revision 5", res, err)
	}
	if _, err := d.Rollback(ctx, ops.RollbackRequest{Ref: release.Ref{Cluster: clusterName, Namespace: "elsewhere", Name: "web"}}, p); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("Rollback in another namespace: error = %v, want ErrNotFound", err)
	}
	if err := d.ValidateInstall(ctx, ops.InstallRequest{Ref: release.Ref{Cluster: clusterName, Namespace: "ops", Name: "broken"},
		Chart: chartArchive(t, "webapp", map[string]string{"templates/bad.yaml": "{{ .Values.nope.deeper }}"})}); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("ValidateInstall of a chart that does not render: error = %v, want ErrInvalidArgument", err)
	}
	if _, err := d.Test(ctx, ops.TestRequest{Ref: ref}, p); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("Test error = %v, want ErrInvalidArgument (swift has no test route)", err)
	}
	res, err = d.Uninstall(ctx, ops.UninstallRequest{Ref: ref, KeepHistory: true}, p)
	if err != nil || res.Release == nil || res.Release.Status != release.StatusUninstalled {
		t.Fatalf("Uninstall keeping history = %+v, %v; want UNINSTALLED", res, err)
	}
	if _, err := d.Uninstall(ctx, ops.UninstallRequest{Ref: ref}, p); err != nil {
		t.Fatalf("Uninstall (purge) error = %v", err)
	}
	if _, err := d.Get(ctx, ref, 0); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("after purge, Get error = %v, want ErrNotFound", err)
	}
}
