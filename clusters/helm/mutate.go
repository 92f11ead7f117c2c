package helm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// opConfig builds a fresh Helm action configuration for one operation.
// The per-namespace cache (actionConfig) is not used here: an operation sets
// state on its configuration (the logger that feeds its progress, hook
// output, capabilities, MaxHistory on storage) that must not leak into
// another operation running at the same time. Discovery is still shared per
// cluster through the getter, so this costs no extra discovery round.
func (d *Driver) opConfig(namespace string, r ops.Reporter) (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(progressHandler{r: r}))
	if err := cfg.Init(d.getter.forNamespace(namespace), namespace, d.storage); err != nil {
		return nil, fmt.Errorf("helm action configuration for namespace %q of cluster %q: %w", namespace, d.cluster, err)
	}
	cfg.HookOutputFunc = func(_, _, _ string) io.Writer { return io.Discard }
	return cfg, nil
}

// progressHandler turns the Helm SDK's log records into an operation's
// progress messages: they say what Helm is doing, step by step.
type progressHandler struct {
	r     ops.Reporter
	attrs []slog.Attr
}

func (h progressHandler) Enabled(context.Context, slog.Level) bool { return h.r != nil }

func (h progressHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	rec.Attrs(write)
	h.r.Progress("helm: " + b.String())
	return nil
}

func (h progressHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return progressHandler{r: h.r, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h progressHandler) WithGroup(string) slog.Handler { return h }

func loadChart(c ops.Chart) (*chartv2.Chart, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(c.Archive))
	if err != nil {
		return nil, fmt.Errorf("%w: chart: %s is not a valid chart archive: %v", release.ErrInvalidArgument, c.Source, err)
	}
	return ch, nil
}

func waitStrategy(wait bool) kube.WaitStrategy {
	if wait {
		return kube.StatusWatcherStrategy
	}
	// Hooks are still waited for, as `helm install` without --wait does.
	return kube.HookOnlyStrategy
}

func timeout(t time.Duration) time.Duration {
	if t <= 0 {
		return ops.DefaultTimeout
	}
	return t
}

// Install installs a chart as a new release (Helm's install action).
func (d *Driver) Install(ctx context.Context, req ops.InstallRequest, r ops.Reporter) (*ops.Result, error) {
	if err := validRef(req.Ref); err != nil {
		return nil, err
	}
	what := "install " + d.describe(req.Ref)
	ch, err := loadChart(req.Chart)
	if err != nil {
		return nil, err
	}
	cfg, err := d.opConfig(req.Ref.Namespace, r)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	in := action.NewInstall(cfg)
	in.Namespace, in.ReleaseName = req.Ref.Namespace, req.Ref.Name
	in.CreateNamespace = req.CreateNamespace
	in.WaitStrategy, in.WaitOptions = waitStrategy(req.Wait), []kube.WaitOption{kube.WithWaitContext(ctx)}
	in.Timeout = timeout(req.Timeout)
	in.RollbackOnFailure, in.ForceReplace = req.Atomic, req.Force
	in.DisableHooks, in.Description = req.DisableHooks, req.Description
	if req.DryRun {
		in.DryRunStrategy = action.DryRunServer
	}
	reli, err := in.RunWithContext(ctx, ch, req.Values)
	return d.outcome(cfg, what, req.Ref.Name, reli, err, req.DryRun)
}

// Upgrade upgrades a release to a chart and values (Helm's upgrade action).
func (d *Driver) Upgrade(ctx context.Context, req ops.UpgradeRequest, r ops.Reporter) (*ops.Result, error) {
	if err := validRef(req.Ref); err != nil {
		return nil, err
	}
	what := "upgrade " + d.describe(req.Ref)
	ch, err := loadChart(req.Chart)
	if err != nil {
		return nil, err
	}
	cfg, err := d.opConfig(req.Ref.Namespace, r)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = req.Ref.Namespace
	up.WaitStrategy, up.WaitOptions = waitStrategy(req.Wait), []kube.WaitOption{kube.WithWaitContext(ctx)}
	up.Timeout = timeout(req.Timeout)
	up.RollbackOnFailure, up.ForceReplace = req.Atomic, req.Force
	up.ReuseValues, up.ResetValues = req.ReuseValues, req.ResetValues
	up.DisableHooks, up.Description = req.DisableHooks, req.Description
	if req.DryRun {
		up.DryRunStrategy = action.DryRunServer
	}
	reli, err := up.RunWithContext(ctx, req.Ref.Name, ch, req.Values)
	return d.outcome(cfg, what, req.Ref.Name, reli, err, req.DryRun)
}

// outcome turns what Helm's install or upgrade action returned into the
// operation's result: the release, or for a dry run the rendering and its diff.
func (d *Driver) outcome(cfg *action.Configuration, what, name string, reli any, err error, dryRun bool) (*ops.Result, error) {
	if err != nil {
		return nil, classifyOp(what, err)
	}
	rel, ok := reli.(*rspb.Release)
	if !ok {
		return nil, fmt.Errorf("%s: unexpected release type %T", what, reli)
	}
	if dryRun {
		return d.dryRun(cfg, rel, name)
	}
	return d.result(rel), nil
}

// Rollback rolls a release back to an earlier revision (Helm's rollback
// action). A dry run needs no rendering: a rollback re-applies the stored
// manifest of the target revision, so that is what it returns.
func (d *Driver) Rollback(ctx context.Context, req ops.RollbackRequest, r ops.Reporter) (*ops.Result, error) {
	if err := validRef(req.Ref); err != nil {
		return nil, err
	}
	what := "roll back " + d.describe(req.Ref)
	cfg, err := d.opConfig(req.Ref.Namespace, r)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	name := req.Ref.Name
	if req.DryRun {
		cur, err := lastRelease(cfg, name)
		if err != nil {
			return nil, classifyOp(what, err)
		}
		rev := req.Revision
		if rev == 0 {
			rev = cur.Version - 1
		}
		tgt, err := getRelease(cfg, name, rev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: revision: there is no revision %d", what, release.ErrInvalidArgument, rev)
		}
		planned := *tgt
		planned.Version = cur.Version + 1
		return d.dryRun(cfg, &planned, name)
	}
	rb := action.NewRollback(cfg)
	rb.Version = req.Revision
	rb.WaitStrategy, rb.WaitOptions = waitStrategy(req.Wait), []kube.WaitOption{kube.WithWaitContext(ctx)}
	rb.Timeout = timeout(req.Timeout)
	rb.ForceReplace, rb.DisableHooks, rb.Description = req.Force, req.DisableHooks, req.Description
	if err := aside(ctx, rb.Run, name); err != nil {
		return nil, classifyOp(what, err)
	}
	rel, err := lastRelease(cfg, name)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	return d.result(rel), nil
}

// Uninstall uninstalls a release (Helm's uninstall action).
func (d *Driver) Uninstall(ctx context.Context, req ops.UninstallRequest, r ops.Reporter) (*ops.Result, error) {
	if err := validRef(req.Ref); err != nil {
		return nil, err
	}
	what := "uninstall " + d.describe(req.Ref)
	cfg, err := d.opConfig(req.Ref.Namespace, r)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	un := action.NewUninstall(cfg)
	un.KeepHistory, un.DisableHooks, un.Description = req.KeepHistory, req.DisableHooks, req.Description
	un.WaitStrategy, un.WaitOptions = waitStrategy(req.Wait), []kube.WaitOption{kube.WithWaitContext(ctx)}
	un.Timeout = timeout(req.Timeout)
	err = aside(ctx, func(name string) error {
		res, err := un.Run(name)
		if res != nil && res.Info != "" {
			r.Progress(res.Info)
		}
		return err
	}, req.Ref.Name)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	if !req.KeepHistory {
		return &ops.Result{}, nil
	}
	rel, err := lastRelease(cfg, req.Ref.Name)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	return d.result(rel), nil
}

// Test runs a release's test hooks (Helm's test action) and reports each
// test's phase and logs. Tests that fail make the error an *ops.TestFailure;
// the result is returned with it.
func (d *Driver) Test(ctx context.Context, req ops.TestRequest, r ops.Reporter) (*ops.Result, error) {
	if err := validRef(req.Ref); err != nil {
		return nil, err
	}
	what := "test " + d.describe(req.Ref)
	cfg, err := d.opConfig(req.Ref.Namespace, r)
	if err != nil {
		return nil, classifyOp(what, err)
	}
	rt := action.NewReleaseTesting(cfg)
	rt.Namespace, rt.Timeout = req.Ref.Namespace, timeout(req.Timeout)
	rt.WaitOptions = []kube.WaitOption{kube.WithWaitContext(ctx)}
	if len(req.Filter) > 0 {
		rt.Filters[action.IncludeNameFilter] = req.Filter
	}
	var reli any
	var shutdown action.ExecuteShutdownFunc
	runErr := aside(ctx, func(name string) error {
		rl, sd, err := rt.Run(name)
		reli, shutdown = rl, sd
		return err
	}, req.Ref.Name)
	rel, _ := reli.(*rspb.Release)
	if rel == nil {
		if runErr == nil {
			runErr = errors.New("no release returned")
		}
		return nil, classifyOp(what, runErr)
	}
	res := &ops.Result{Tests: []ops.TestResult{}}
	var failed []string
	for _, h := range rel.Hooks {
		if !slices.Contains(h.Events, rspb.HookTest) || (len(req.Filter) > 0 && !slices.Contains(req.Filter, h.Name)) {
			continue
		}
		tr := ops.TestResult{Name: h.Name, Kind: h.Kind, Phase: strings.ToUpper(h.LastRun.Phase.String())}
		if tr.Phase == "" {
			tr.Phase = "UNKNOWN"
		}
		if t := h.LastRun.StartedAt; !t.IsZero() {
			tr.StartedAt = &t
		}
		if t := h.LastRun.CompletedAt; !t.IsZero() {
			tr.CompletedAt = &t
		}
		if h.LastRun.Phase == rspb.HookPhaseFailed {
			failed = append(failed, h.Name)
		}
		if h.Kind == "Pod" && h.LastRun.Phase != rspb.HookPhaseUnknown && !h.LastRun.StartedAt.IsZero() {
			tr.Logs, tr.LogsError = d.testLogs(rt, rel, h.Name)
			if tr.LogsError != "" {
				r.Progress(fmt.Sprintf("logs of test %s unavailable: %s", h.Name, tr.LogsError))
			}
		}
		r.Progress(fmt.Sprintf("test %s: %s", h.Name, tr.Phase))
		res.Tests = append(res.Tests, tr)
	}
	if len(res.Tests) == 0 && runErr == nil {
		r.Progress("the release has no tests")
	}
	if shutdown != nil {
		if err := shutdown(); err != nil {
			r.Progress("deleting test hooks by their delete policy: " + err.Error())
		}
	}
	res.Release = ptr(d.summary(req.Ref.Namespace, rel))
	if len(failed) > 0 {
		return res, &ops.TestFailure{Failed: failed}
	}
	if runErr != nil {
		return res, classifyOp(what, runErr)
	}
	return res, nil
}

// testLogs reads one test pod's logs through the SDK. The API server asks
// the pod's kubelet for them, so they are unavailable where none runs.
func (d *Driver) testLogs(rt *action.ReleaseTesting, rel *rspb.Release, hook string) (string, string) {
	saved := rt.Filters[action.IncludeNameFilter]
	rt.Filters[action.IncludeNameFilter] = []string{hook}
	defer func() { rt.Filters[action.IncludeNameFilter] = saved }()
	var b strings.Builder
	if err := rt.GetPodLogs(&b, rel); err != nil {
		return b.String(), err.Error()
	}
	return b.String(), ""
}

// aside runs a Helm call that takes no context in a goroutine, so that ctx
// still bounds how long the operation waits for it. Helm keeps running it
// when ctx ends (as it does for RunWithContext); its own timeout ends it.
func aside(ctx context.Context, fn func(string) error, name string) error {
	done := make(chan error, 1)
	go func() { done <- fn(name) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Driver) result(rel *rspb.Release) *ops.Result {
	return &ops.Result{Release: ptr(d.summary(rel.Namespace, rel))}
}

func ptr[T any](v T) *T { return &v }

func lastRelease(cfg *action.Configuration, name string) (*rspb.Release, error) {
	reli, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, err
	}
	rel, ok := reli.(*rspb.Release)
	if !ok {
		return nil, fmt.Errorf("unexpected release type %T", reli)
	}
	return rel, nil
}

func getRelease(cfg *action.Configuration, name string, rev int) (*rspb.Release, error) {
	reli, err := cfg.Releases.Get(name, rev)
	if err != nil {
		return nil, err
	}
	rel, ok := reli.(*rspb.Release)
	if !ok {
		return nil, fmt.Errorf("unexpected release type %T", reli)
	}
	return rel, nil
}

// dryRun describes a rendered release and diffs it against the deployed
// revision (manifest, and computed values as YAML).
func (d *Driver) dryRun(cfg *action.Configuration, planned *rspb.Release, name string) (*ops.Result, error) {
	computed, err := computedValues(planned)
	if err != nil {
		return nil, fmt.Errorf("%w: values: %v", release.ErrInvalidArgument, err)
	}
	dr := &ops.DryRun{Revision: planned.Version, Manifest: planned.Manifest, Values: planned.Config, ComputedValues: computed}
	if dr.Values == nil {
		dr.Values = map[string]any{}
	}
	if planned.Info != nil {
		dr.Notes = planned.Info.Notes
	}
	var fromManifest, fromValues, fromName string
	fromName = "(nothing deployed)"
	if reli, err := cfg.Releases.Deployed(name); err == nil {
		if prev, ok := reli.(*rspb.Release); ok {
			dr.DeployedRevision = prev.Version
			fromName = fmt.Sprintf("revision %d (deployed)", prev.Version)
			fromManifest = prev.Manifest
			if pv, err := computedValues(prev); err == nil {
				fromValues = ops.ValuesYAML(pv)
			}
		}
	}
	toName := fmt.Sprintf("revision %d (dry run)", planned.Version)
	dr.ManifestDiff = ops.UnifiedDiff(fromName, toName, fromManifest, planned.Manifest)
	dr.ValuesDiff = ops.UnifiedDiff(fromName, toName, fromValues, ops.ValuesYAML(computed))
	return &ops.Result{DryRun: dr}, nil
}

// errPendingText is the message of Helm's (unexported) error for a release
// whose last revision is pending-install, -upgrade or -rollback.
const errPendingText = "another operation (install/upgrade/rollback) is in progress"

// classifyOp wraps an error of a Helm action with the sentinel that says
// what the caller can do about it.
func classifyOp(what string, err error) error {
	msg := err.Error()
	for _, s := range []error{release.ErrNotFound, release.ErrInvalidArgument, release.ErrConflict, release.ErrForbidden, release.ErrClusterUnavailable} {
		if errors.Is(err, s) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	switch {
	case strings.Contains(msg, errPendingText):
		return fmt.Errorf("%s: %w: the release is in a pending state (an interrupted or running install, upgrade or rollback); if nothing is running, roll it back with rollbackRelease: %v", what, release.ErrConflict, err)
	case errors.Is(err, driver.ErrReleaseExists), strings.Contains(msg, "cannot reuse a name that is still in use") || strings.Contains(msg, "cannot re-use a name"):
		return fmt.Errorf("%s: %w: %v", what, release.ErrConflict, err)
	case errors.Is(err, driver.ErrReleaseNotFound), errors.Is(err, driver.ErrNoDeployedReleases), strings.Contains(msg, "has no deployed releases"):
		return fmt.Errorf("%s: %w: %v", what, release.ErrNotFound, err)
	case strings.Contains(msg, "release has no ") && strings.Contains(msg, " version"):
		return fmt.Errorf("%s: %w: revision: %v", what, release.ErrInvalidArgument, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return fmt.Errorf("%s: %w: the cluster refused the chart's objects: %v", what, release.ErrInvalidArgument, err)
	case isRenderError(msg):
		return fmt.Errorf("%s: %w: chart: %v", what, release.ErrInvalidArgument, err)
	}
	return classify(what, err)
}

// isRenderError recognises the Helm SDK's errors for charts that do not
// render or render to something that is not Kubernetes objects.
func isRenderError(msg string) bool {
	for _, s := range []string{"template: ", "failed to render", "parse error", "YAML parse error", "unable to build kubernetes objects",
		"values don't meet the specifications of the schema", "execution error at", "chart requires kubeVersion", "error converting YAML to JSON"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Validate renders an install or upgrade against the cluster without
// changing it (a server-side dry run), so that a chart that does not render,
// values the chart refuses or objects the API server would reject are found
// before an operation is started.
func (d *Driver) validateRender(ctx context.Context, install *ops.InstallRequest, upgrade *ops.UpgradeRequest) error {
	if install != nil {
		req := *install
		req.DryRun = true
		_, err := d.Install(ctx, req, ops.Discard{})
		return err
	}
	req := *upgrade
	req.DryRun = true
	_, err := d.Upgrade(ctx, req, ops.Discard{})
	return err
}

// ValidateInstall checks that the install would render (see validateRender).
func (d *Driver) ValidateInstall(ctx context.Context, req ops.InstallRequest) error {
	return d.validateRender(ctx, &req, nil)
}

// ValidateUpgrade checks that the upgrade would render (see validateRender).
func (d *Driver) ValidateUpgrade(ctx context.Context, req ops.UpgradeRequest) error {
	return d.validateRender(ctx, nil, &req)
}

// CheckAccess asks the API server whether helmgraph's credentials may
// create Helm's storage objects in namespace: without that no operation can
// record a release, so it is refused before it starts (FORBIDDEN). The
// cluster's RBAC still decides on every object the chart holds.
func (d *Driver) CheckAccess(ctx context.Context, namespace string) error {
	resource := "secrets"
	if d.storage == StorageConfigMap {
		resource = "configmaps"
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "create", Resource: resource},
	}}
	res, err := d.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return classify(fmt.Sprintf("check access to namespace %q of cluster %q", namespace, d.cluster), err)
	}
	if !res.Status.Allowed {
		return fmt.Errorf("%w: helmgraph's credentials for cluster %q may not create %s in namespace %q, where Helm records releases",
			release.ErrForbidden, d.cluster, resource, namespace)
	}
	return nil
}
