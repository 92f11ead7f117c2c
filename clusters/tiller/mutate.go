package tiller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"
	"k8s.io/helm/pkg/proto/hapi/services"
	"sigs.k8s.io/yaml"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// The driver changes releases through Tiller, as the Helm v2 CLI does
// (clusters.Mutator). Tiller does the work and keeps the history; helmgraph
// sends charts and values and reports what Tiller recorded.

func timeoutSeconds(t time.Duration) int64 {
	if t <= 0 {
		t = ops.DefaultTimeout
	}
	return int64(math.Ceil(t.Seconds()))
}

func configOf(values map[string]any) (*hapichart.Config, error) {
	if len(values) == 0 {
		return &hapichart.Config{}, nil
	}
	b, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("%w: values: %v", release.ErrInvalidArgument, err)
	}
	return &hapichart.Config{Raw: string(b)}, nil
}

func loadChart(c ops.Chart) (*hapichart.Chart, error) {
	ch, err := LoadArchive(c.Archive)
	if err != nil {
		return nil, fmt.Errorf("%w: chart %s %s (%s): %v", release.ErrInvalidArgument, c.Name, c.Version, c.Source, err)
	}
	return ch, nil
}

// Install installs a chart as a new release (Helm v2's `helm install`).
// Tiller creates the namespace if needed. Atomic deletes the release again
// (purged) if the install fails, as `helm install --atomic`.
func (d *Driver) Install(ctx context.Context, req ops.InstallRequest, r ops.Reporter) (*ops.Result, error) {
	if err := validRef(req.Ref); err != nil {
		return nil, err
	}
	what := "install " + d.describe(req.Ref)
	ch, err := loadChart(req.Chart)
	if err != nil {
		return nil, err
	}
	vals, err := configOf(req.Values)
	if err != nil {
		return nil, err
	}
	r.Progress(fmt.Sprintf("installing chart %s %s as %s through tiller", ch.GetMetadata().GetName(), ch.GetMetadata().GetVersion(), req.Ref.Name))
	resp, err := d.svc.InstallRelease(d.ctx(ctx), &services.InstallReleaseRequest{
		Chart: ch, Values: vals, DryRun: req.DryRun, Name: req.Ref.Name, Namespace: req.Ref.Namespace,
		DisableHooks: req.DisableHooks, Timeout: timeoutSeconds(req.Timeout), Wait: req.Wait, Description: req.Description,
	})
	if err != nil {
		err = d.classifyOp(what, err)
		if req.Atomic && !req.DryRun && !errors.Is(err, release.ErrConflict) && !errors.Is(err, release.ErrClusterUnavailable) {
			r.Progress("install failed; deleting the release (atomic)")
			if _, uerr := d.svc.UninstallRelease(d.ctx(ctx), &services.UninstallReleaseRequest{Name: req.Ref.Name, Purge: true, Timeout: timeoutSeconds(req.Timeout)}); uerr != nil {
				err = fmt.Errorf("%w; deleting it again also failed: %v", err, uerr)
			}
		}
		return nil, err
	}
	if req.DryRun {
		return d.dryRun(ctx, resp.GetRelease())
	}
	return d.result(resp.GetRelease()), nil
}

// Upgrade upgrades a release to a chart and values (`helm upgrade`).
// Atomic rolls back to the previous revision if the upgrade fails.
func (d *Driver) Upgrade(ctx context.Context, req ops.UpgradeRequest, r ops.Reporter) (*ops.Result, error) {
	if err := d.inNamespace(ctx, req.Ref); err != nil {
		return nil, err
	}
	what := "upgrade " + d.describe(req.Ref)
	ch, err := loadChart(req.Chart)
	if err != nil {
		return nil, err
	}
	vals, err := configOf(req.Values)
	if err != nil {
		return nil, err
	}
	r.Progress(fmt.Sprintf("upgrading %s to chart %s %s through tiller", req.Ref.Name, ch.GetMetadata().GetName(), ch.GetMetadata().GetVersion()))
	resp, err := d.svc.UpdateRelease(d.ctx(ctx), &services.UpdateReleaseRequest{
		Name: req.Ref.Name, Chart: ch, Values: vals, DryRun: req.DryRun, DisableHooks: req.DisableHooks,
		Timeout: timeoutSeconds(req.Timeout), ResetValues: req.ResetValues, ReuseValues: req.ReuseValues, Wait: req.Wait,
		Force: req.Force, Description: req.Description,
	})
	if err != nil {
		err = d.classifyOp(what, err)
		if req.Atomic && !req.DryRun && !errors.Is(err, release.ErrClusterUnavailable) && !errors.Is(err, release.ErrConflict) {
			r.Progress("upgrade failed; rolling back (atomic)")
			if _, rerr := d.svc.RollbackRelease(d.ctx(ctx), &services.RollbackReleaseRequest{Name: req.Ref.Name, Timeout: timeoutSeconds(req.Timeout), Wait: req.Wait}); rerr != nil {
				err = fmt.Errorf("%w; rolling back also failed: %v", err, rerr)
			}
		}
		return nil, err
	}
	if req.DryRun {
		return d.dryRun(ctx, resp.GetRelease())
	}
	return d.result(resp.GetRelease()), nil
}

// Rollback rolls a release back to an earlier revision (`helm rollback`);
// revision 0 is the one before the latest.
func (d *Driver) Rollback(ctx context.Context, req ops.RollbackRequest, r ops.Reporter) (*ops.Result, error) {
	if err := d.inNamespace(ctx, req.Ref); err != nil {
		return nil, err
	}
	if req.Revision < 0 || req.Revision > math.MaxInt32 {
		return nil, fmt.Errorf("%w: revision %d: revisions start at 1", release.ErrInvalidArgument, req.Revision)
	}
	r.Progress(fmt.Sprintf("rolling %s back through tiller", req.Ref.Name))
	resp, err := d.svc.RollbackRelease(d.ctx(ctx), &services.RollbackReleaseRequest{
		Name: req.Ref.Name, DryRun: req.DryRun, DisableHooks: req.DisableHooks, Version: int32(req.Revision),
		Timeout: timeoutSeconds(req.Timeout), Wait: req.Wait, Force: req.Force, Description: req.Description,
	})
	if err != nil {
		return nil, d.classifyOp("roll back "+d.describe(req.Ref), err)
	}
	if req.DryRun {
		return d.dryRun(ctx, resp.GetRelease())
	}
	return d.result(resp.GetRelease()), nil
}

// Uninstall deletes a release (`helm delete`, with --purge unless
// KeepHistory).
func (d *Driver) Uninstall(ctx context.Context, req ops.UninstallRequest, r ops.Reporter) (*ops.Result, error) {
	if err := d.inNamespace(ctx, req.Ref); err != nil {
		return nil, err
	}
	if req.DryRun {
		return nil, fmt.Errorf("%w: dryRun: tiller cannot simulate a delete", release.ErrInvalidArgument)
	}
	r.Progress(fmt.Sprintf("deleting %s through tiller", req.Ref.Name))
	resp, err := d.svc.UninstallRelease(d.ctx(ctx), &services.UninstallReleaseRequest{
		Name: req.Ref.Name, DisableHooks: req.DisableHooks, Purge: !req.KeepHistory, Timeout: timeoutSeconds(req.Timeout), Description: req.Description,
	})
	if err != nil {
		return nil, d.classifyOp("delete "+d.describe(req.Ref), err)
	}
	if info := resp.GetInfo(); info != "" {
		r.Progress(info)
	}
	if !req.KeepHistory || resp.GetRelease() == nil {
		return &ops.Result{}, nil
	}
	return d.result(resp.GetRelease()), nil
}

// Test runs a release's test hooks (`helm test`) and reports the results
// Tiller recorded. Tiller streams progress lines, not logs.
func (d *Driver) Test(ctx context.Context, req ops.TestRequest, r ops.Reporter) (*ops.Result, error) {
	if err := d.inNamespace(ctx, req.Ref); err != nil {
		return nil, err
	}
	what := "test " + d.describe(req.Ref)
	stream, err := d.svc.RunReleaseTest(d.ctx(ctx), &services.TestReleaseRequest{Name: req.Ref.Name, Timeout: timeoutSeconds(req.Timeout)})
	if err != nil {
		return nil, d.classifyOp(what, err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, d.classifyOp(what, err)
		}
		if m := msg.GetMsg(); m != "" {
			r.Progress(m)
		}
	}
	resp, err := d.svc.GetReleaseContent(d.ctx(ctx), &services.GetReleaseContentRequest{Name: req.Ref.Name})
	if err != nil {
		return nil, d.classifyOp(what, err)
	}
	res := d.result(resp.GetRelease())
	for _, t := range resp.GetRelease().GetInfo().GetStatus().GetLastTestSuiteRun().GetResults() {
		if len(req.Filter) > 0 && !contains(req.Filter, t.GetName()) {
			continue
		}
		tr := ops.TestResult{Name: t.GetName(), Kind: "Pod", Phase: testPhase(t.GetStatus()), Logs: t.GetInfo(),
			LogsError: "tiller does not return test pods' logs"}
		if ts := t.GetStartedAt(); ts != nil {
			v := ts.AsTime()
			tr.StartedAt = &v
		}
		if ts := t.GetCompletedAt(); ts != nil {
			v := ts.AsTime()
			tr.CompletedAt = &v
		}
		res.Tests = append(res.Tests, tr)
	}
	return res, nil
}

func testPhase(s hapirelease.TestRun_Status) string {
	switch s {
	case hapirelease.TestRun_SUCCESS:
		return "Succeeded"
	case hapirelease.TestRun_FAILURE:
		return "Failed"
	case hapirelease.TestRun_RUNNING:
		return "Running"
	}
	return "Unknown"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// ValidateInstall renders the install in Tiller without making it (a dry
// run), so that charts that do not render are refused before an operation.
func (d *Driver) ValidateInstall(ctx context.Context, req ops.InstallRequest) error {
	req.DryRun = true
	_, err := d.Install(ctx, req, ops.Discard{})
	return err
}

// ValidateUpgrade renders the upgrade in Tiller without making it.
func (d *Driver) ValidateUpgrade(ctx context.Context, req ops.UpgradeRequest) error {
	req.DryRun = true
	_, err := d.Upgrade(ctx, req, ops.Discard{})
	return err
}

// CheckAccess is always satisfied: Tiller changes the cluster with its own
// service account, and helmgraph only needs to reach Tiller, which every
// operation's first call finds out.
func (d *Driver) CheckAccess(ctx context.Context, namespace string) error { return nil }

// inNamespace checks that the release exists in ref's namespace: Tiller's
// names are cluster-wide, so the same name elsewhere is not this release.
func (d *Driver) inNamespace(ctx context.Context, ref release.Ref) error {
	if err := validRef(ref); err != nil {
		return err
	}
	resp, err := d.svc.GetReleaseContent(d.ctx(ctx), &services.GetReleaseContentRequest{Name: ref.Name})
	if err != nil {
		return d.classify("get "+d.describe(ref), err)
	}
	if resp.GetRelease().GetNamespace() != ref.Namespace {
		return fmt.Errorf("%s: %w (a release of that name is in namespace %q)", d.describe(ref), release.ErrNotFound, resp.GetRelease().GetNamespace())
	}
	return nil
}

func (d *Driver) result(r *hapirelease.Release) *ops.Result {
	if r == nil {
		return &ops.Result{}
	}
	s := Summary(d.cluster, release.DriverTiller, r)
	return &ops.Result{Release: &s}
}

// dryRun describes a release Tiller rendered without recording it, with
// diffs against the deployed revision.
func (d *Driver) dryRun(ctx context.Context, planned *hapirelease.Release) (*ops.Result, error) {
	var history []*hapirelease.Release
	if planned != nil {
		if h, err := d.svc.GetHistory(d.ctx(ctx), &services.GetHistoryRequest{Name: planned.GetName(), Max: math.MaxInt32}); err == nil {
			history = h.GetReleases()
		}
	}
	return DryRun(d.cluster, release.DriverTiller, planned, history)
}

// DryRun describes a release Tiller rendered without recording it (planned),
// with diffs against the newest DEPLOYED revision in history.
func DryRun(cluster string, kind release.DriverKind, planned *hapirelease.Release, history []*hapirelease.Release) (*ops.Result, error) {
	if planned == nil {
		return nil, errors.New("tiller returned no release for the dry run")
	}
	rel, err := Release(cluster, kind, planned)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", release.ErrInvalidArgument, err)
	}
	dr := &ops.DryRun{Revision: rel.Revision, Manifest: rel.Manifest, Notes: rel.Notes, Values: rel.Values, ComputedValues: rel.ComputedValues}
	fromName, fromManifest, fromValues := "(nothing deployed)", "", ""
	var deployed *hapirelease.Release
	for _, prev := range history {
		if prev.GetInfo().GetStatus().GetCode() == hapirelease.Status_DEPLOYED && (deployed == nil || prev.GetVersion() > deployed.GetVersion()) {
			deployed = prev
		}
	}
	if deployed != nil {
		if pr, err := Release(cluster, kind, deployed); err == nil {
			dr.DeployedRevision = pr.Revision
			fromName = fmt.Sprintf("revision %d (deployed)", pr.Revision)
			fromManifest, fromValues = pr.Manifest, ops.ValuesYAML(pr.ComputedValues)
		}
	}
	toName := fmt.Sprintf("revision %d (dry run)", rel.Revision)
	dr.ManifestDiff = ops.UnifiedDiff(fromName, toName, fromManifest, rel.Manifest)
	dr.ValuesDiff = ops.UnifiedDiff(fromName, toName, fromValues, ops.ValuesYAML(rel.ComputedValues))
	return &ops.Result{DryRun: dr}, nil
}

// classifyOp is classify for Tiller's answers to changes (see OpSentinel).
func (d *Driver) classifyOp(what string, err error) error {
	err = d.classify(what, err)
	if errors.Is(err, release.ErrClusterUnavailable) || errors.Is(err, release.ErrInvalidArgument) || errors.Is(err, release.ErrNotFound) {
		return err
	}
	if s := OpSentinel(err.Error()); s != nil {
		return fmt.Errorf("%w: %w", s, err)
	}
	return err
}

// OpSentinel recognises Tiller's messages for changes it refuses: a name in
// use or an operation in progress (ErrConflict), a chart it cannot render or
// objects the API server refuses (ErrInvalidArgument). nil otherwise.
func OpSentinel(msg string) error {
	for _, s := range []string{"cannot re-use a name that is still in use", "already exists", "another operation (install/upgrade/rollback) is in progress"} {
		if strings.Contains(msg, s) {
			return release.ErrConflict
		}
	}
	for _, s := range []string{"render error", "parse error", "YAML parse error", "is invalid", "error validating",
		"chart requires kubernetesVersion", "unable to build kubernetes objects"} {
		if strings.Contains(msg, s) {
			return release.ErrInvalidArgument
		}
	}
	return nil
}
