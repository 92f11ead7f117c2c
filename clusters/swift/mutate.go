package swift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/protoadapt"
	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"
	"sigs.k8s.io/yaml"

	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// The driver changes releases through swift's write routes (POST, PUT and
// DELETE /tiller/v2/releases/{name}/json, GET .../rollback/json), sending
// charts inline as Helm v2 chart messages in JSON (clusters.Mutator).

func timeoutSeconds(t time.Duration) string {
	if t <= 0 {
		t = ops.DefaultTimeout
	}
	return strconv.FormatInt(int64(math.Ceil(t.Seconds())), 10)
}

var marshal = protojson.MarshalOptions{UseProtoNames: true}

// chartJSON loads the archive and writes it as swift's JSON. The chart's
// plain files (README, files read with .Files) cannot cross swift's JSON
// API: they are google.protobuf.Any values of no registered type, which
// grpc-gateway cannot encode. They are left out and the reporter is told.
func chartJSON(c ops.Chart, r ops.Reporter) (json.RawMessage, error) {
	ch, err := tiller.LoadArchive(c.Archive)
	if err != nil {
		return nil, fmt.Errorf("%w: chart %s %s (%s): %v", release.ErrInvalidArgument, c.Name, c.Version, c.Source, err)
	}
	if n := dropFiles(ch); n > 0 {
		r.Progress(fmt.Sprintf("%d plain file(s) of the chart are not sent: swift's JSON API cannot carry them", n))
	}
	b, err := marshal.Marshal(protoadapt.MessageV2Of(ch))
	if err != nil {
		return nil, fmt.Errorf("%w: chart %s as JSON: %v", release.ErrInvalidArgument, c.Name, err)
	}
	return b, nil
}

func dropFiles(ch *hapichart.Chart) int {
	n := len(ch.Files)
	ch.Files = nil
	for _, sub := range ch.Dependencies {
		n += dropFiles(sub)
	}
	return n
}

func valuesJSON(values map[string]any) (map[string]string, error) {
	if len(values) == 0 {
		return map[string]string{}, nil
	}
	b, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("%w: values: %v", release.ErrInvalidArgument, err)
	}
	return map[string]string{"raw": string(b)}, nil
}

type releaseAnswer struct {
	Release json.RawMessage `json:"release"`
	Info    string          `json:"info"`
}

func (a releaseAnswer) decode() (*hapirelease.Release, error) {
	if len(a.Release) == 0 || string(a.Release) == "null" {
		return nil, nil
	}
	r := &hapirelease.Release{}
	return r, decode(a.Release, r)
}

func (d *Driver) result(what string, a releaseAnswer) (*ops.Result, error) {
	r, err := a.decode()
	if err != nil {
		return nil, d.unavailable(what, fmt.Errorf("decode release: %w", err))
	}
	if r == nil {
		return &ops.Result{}, nil
	}
	s := tiller.Summary(d.cluster, release.DriverSwift, r)
	return &ops.Result{Release: &s}, nil
}

func (d *Driver) dryRun(ctx context.Context, what string, a releaseAnswer) (*ops.Result, error) {
	planned, err := a.decode()
	if err != nil {
		return nil, d.unavailable(what, fmt.Errorf("decode release: %w", err))
	}
	var history []*hapirelease.Release
	if planned != nil {
		history, _ = d.rawHistory(ctx, what, planned.GetName())
	}
	return tiller.DryRun(d.cluster, release.DriverSwift, planned, history)
}

func (d *Driver) rawHistory(ctx context.Context, what, name string) ([]*hapirelease.Release, error) {
	var resp struct {
		Releases []json.RawMessage `json:"releases"`
	}
	if err := d.get(ctx, what, "/tiller/v2/releases/"+url.PathEscape(name)+"/json", url.Values{"max": {strconv.Itoa(math.MaxInt32)}}, &resp); err != nil {
		return nil, err
	}
	var out []*hapirelease.Release
	for _, b := range resp.Releases {
		r := &hapirelease.Release{}
		if err := decode(b, r); err != nil {
			return nil, d.unavailable(what, fmt.Errorf("decode release: %w", err))
		}
		out = append(out, r)
	}
	return out, nil
}

// inNamespace checks that the release exists in ref's namespace (Helm v2
// names are cluster-wide).
func (d *Driver) inNamespace(ctx context.Context, ref release.Ref) error {
	_, err := d.Get(ctx, ref, 0)
	return err
}

func path(ref release.Ref) string { return "/tiller/v2/releases/" + url.PathEscape(ref.Name) + "/json" }

// Install installs a chart as a new release through swift. Atomic deletes a
// failed install again (purged).
func (d *Driver) Install(ctx context.Context, req ops.InstallRequest, r ops.Reporter) (*ops.Result, error) {
	if err := validRef(req.Ref); err != nil {
		return nil, err
	}
	what := "install " + d.describe(req.Ref)
	ch, err := chartJSON(req.Chart, r)
	if err != nil {
		return nil, err
	}
	vals, err := valuesJSON(req.Values)
	if err != nil {
		return nil, err
	}
	r.Progress(fmt.Sprintf("installing chart %s %s as %s through swift", req.Chart.Name, req.Chart.Version, req.Ref.Name))
	body := map[string]any{"chart": ch, "values": vals, "namespace": req.Ref.Namespace, "dry_run": req.DryRun,
		"disable_hooks": req.DisableHooks, "timeout": timeoutSeconds(req.Timeout), "wait": req.Wait}
	undo := func() error {
		r.Progress("install failed; deleting the release (atomic)")
		q := url.Values{"purge": {"true"}, "timeout": {timeoutSeconds(req.Timeout)}}
		if err := d.call(ctx, "delete "+d.describe(req.Ref), http.MethodDelete, path(req.Ref), q, nil, &releaseAnswer{}); err != nil {
			return fmt.Errorf("deleting it again also failed: %v", err)
		}
		return nil
	}
	return d.change(ctx, what, http.MethodPost, req.Ref, body, req.DryRun, req.Atomic, undo)
}

// change sends an install (POST) or upgrade (PUT). When it fails and atomic
// is set, undo puts the release back, unless the failure says nothing was
// changed (a conflict) or nothing can be (the cluster is unreachable).
func (d *Driver) change(ctx context.Context, what, method string, ref release.Ref, body map[string]any, dryRun, atomic bool, undo func() error) (*ops.Result, error) {
	var a releaseAnswer
	if err := d.call(ctx, what, method, path(ref), nil, body, &a); err != nil {
		if atomic && !dryRun && !errors.Is(err, release.ErrConflict) && !errors.Is(err, release.ErrClusterUnavailable) {
			if uerr := undo(); uerr != nil {
				err = fmt.Errorf("%w; %v", err, uerr)
			}
		}
		return nil, err
	}
	if dryRun {
		return d.dryRun(ctx, what, a)
	}
	return d.result(what, a)
}

// Upgrade upgrades a release through swift. Atomic rolls a failed upgrade
// back to the previous revision.
func (d *Driver) Upgrade(ctx context.Context, req ops.UpgradeRequest, r ops.Reporter) (*ops.Result, error) {
	if err := d.inNamespace(ctx, req.Ref); err != nil {
		return nil, err
	}
	what := "upgrade " + d.describe(req.Ref)
	ch, err := chartJSON(req.Chart, r)
	if err != nil {
		return nil, err
	}
	vals, err := valuesJSON(req.Values)
	if err != nil {
		return nil, err
	}
	r.Progress(fmt.Sprintf("upgrading %s to chart %s %s through swift", req.Ref.Name, req.Chart.Name, req.Chart.Version))
	body := map[string]any{"chart": ch, "values": vals, "dry_run": req.DryRun, "disable_hooks": req.DisableHooks,
		"timeout": timeoutSeconds(req.Timeout), "reset_values": req.ResetValues, "reuse_values": req.ReuseValues, "wait": req.Wait, "force": req.Force}
	undo := func() error {
		r.Progress("upgrade failed; rolling back (atomic)")
		q := url.Values{"timeout": {timeoutSeconds(req.Timeout)}, "wait": {strconv.FormatBool(req.Wait)}}
		if err := d.get(ctx, "roll back "+d.describe(req.Ref), "/tiller/v2/releases/"+url.PathEscape(req.Ref.Name)+"/rollback/json", q, &releaseAnswer{}); err != nil {
			return fmt.Errorf("rolling back also failed: %v", err)
		}
		return nil
	}
	return d.change(ctx, what, http.MethodPut, req.Ref, body, req.DryRun, req.Atomic, undo)
}

// Rollback rolls a release back through swift (a GET, as swift's route is);
// revision 0 is the one before the latest.
func (d *Driver) Rollback(ctx context.Context, req ops.RollbackRequest, r ops.Reporter) (*ops.Result, error) {
	if err := d.inNamespace(ctx, req.Ref); err != nil {
		return nil, err
	}
	if req.Revision < 0 || req.Revision > math.MaxInt32 {
		return nil, fmt.Errorf("%w: revision %d: revisions start at 1", release.ErrInvalidArgument, req.Revision)
	}
	what := "roll back " + d.describe(req.Ref)
	r.Progress(fmt.Sprintf("rolling %s back through swift", req.Ref.Name))
	q := url.Values{"version": {strconv.Itoa(req.Revision)}, "dry_run": {strconv.FormatBool(req.DryRun)}, "disable_hooks": {strconv.FormatBool(req.DisableHooks)},
		"timeout": {timeoutSeconds(req.Timeout)}, "wait": {strconv.FormatBool(req.Wait)}, "force": {strconv.FormatBool(req.Force)}}
	var a releaseAnswer
	if err := d.get(ctx, what, "/tiller/v2/releases/"+url.PathEscape(req.Ref.Name)+"/rollback/json", q, &a); err != nil {
		return nil, err
	}
	if req.DryRun {
		return d.dryRun(ctx, what, a)
	}
	return d.result(what, a)
}

// Uninstall deletes a release through swift, purged unless KeepHistory.
func (d *Driver) Uninstall(ctx context.Context, req ops.UninstallRequest, r ops.Reporter) (*ops.Result, error) {
	if err := d.inNamespace(ctx, req.Ref); err != nil {
		return nil, err
	}
	if req.DryRun {
		return nil, fmt.Errorf("%w: dryRun: swift cannot simulate a delete", release.ErrInvalidArgument)
	}
	what := "delete " + d.describe(req.Ref)
	r.Progress(fmt.Sprintf("deleting %s through swift", req.Ref.Name))
	q := url.Values{"purge": {strconv.FormatBool(!req.KeepHistory)}, "disable_hooks": {strconv.FormatBool(req.DisableHooks)}, "timeout": {timeoutSeconds(req.Timeout)}}
	var a releaseAnswer
	if err := d.call(ctx, what, http.MethodDelete, path(req.Ref), q, nil, &a); err != nil {
		return nil, err
	}
	if a.Info != "" {
		r.Progress(a.Info)
	}
	if !req.KeepHistory {
		return &ops.Result{}, nil
	}
	return d.result(what, a)
}

// Test is not offered: swift has no route for Tiller's RunReleaseTest.
func (d *Driver) Test(ctx context.Context, req ops.TestRequest, r ops.Reporter) (*ops.Result, error) {
	return nil, fmt.Errorf("%w: input.cluster: swift has no API to run a release's tests; use a tiller config for cluster %q's Tiller", release.ErrInvalidArgument, d.cluster)
}

// ValidateInstall renders the install through swift without making it.
func (d *Driver) ValidateInstall(ctx context.Context, req ops.InstallRequest) error {
	req.DryRun = true
	_, err := d.Install(ctx, req, ops.Discard{})
	return err
}

// ValidateUpgrade renders the upgrade through swift without making it.
func (d *Driver) ValidateUpgrade(ctx context.Context, req ops.UpgradeRequest) error {
	req.DryRun = true
	_, err := d.Upgrade(ctx, req, ops.Discard{})
	return err
}

// CheckAccess is always satisfied: Tiller, behind swift, acts with its own
// service account.
func (d *Driver) CheckAccess(ctx context.Context, namespace string) error { return nil }
