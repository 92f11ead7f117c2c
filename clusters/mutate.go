package clusters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// Mutator changes a cluster's releases. Drivers that can change releases
// implement it beside Driver (the helm driver does; tiller and swift may
// later). Every method runs one Helm operation to its end and reports its
// progress; errors wrap the release sentinels.
type Mutator interface {
	Install(ctx context.Context, req ops.InstallRequest, r ops.Reporter) (*ops.Result, error)
	Upgrade(ctx context.Context, req ops.UpgradeRequest, r ops.Reporter) (*ops.Result, error)
	Rollback(ctx context.Context, req ops.RollbackRequest, r ops.Reporter) (*ops.Result, error)
	Uninstall(ctx context.Context, req ops.UninstallRequest, r ops.Reporter) (*ops.Result, error)
	Test(ctx context.Context, req ops.TestRequest, r ops.Reporter) (*ops.Result, error)
	// ValidateInstall and ValidateUpgrade render the change against the
	// cluster without making it, so that bad charts and values are refused
	// before an operation starts.
	ValidateInstall(ctx context.Context, req ops.InstallRequest) error
	ValidateUpgrade(ctx context.Context, req ops.UpgradeRequest) error
	// CheckAccess reports release.ErrForbidden when helmgraph's credentials
	// may not record releases in the namespace.
	CheckAccess(ctx context.Context, namespace string) error
}

// mutator returns the named cluster and its Mutator, or an error naming
// input.cluster.
func (r *Registry) mutator(name string) (*Cluster, Mutator, error) {
	c, ok := r.byName[name]
	if !ok {
		return nil, nil, fmt.Errorf("%w: input.cluster: cluster %q is not configured", release.ErrInvalidArgument, name)
	}
	m, ok := c.Driver.(Mutator)
	if !ok {
		return nil, nil, fmt.Errorf("%w: input.cluster: the %s driver of cluster %q cannot change releases", release.ErrInvalidArgument, c.Driver.Kind(), name)
	}
	return c, m, nil
}

// check runs a synchronous validation step against the cluster, bounded by
// the cluster's timeout. Unlike call, it keeps errors without a sentinel as
// they are: a validation that fails for a reason of its own is not an
// unreachable cluster.
func (c *Cluster) check(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.Config.timeout())
	defer cancel()
	err := fn(ctx)
	if err != nil && ctx.Err() != nil && !errors.Is(err, release.ErrInvalidArgument) {
		return fmt.Errorf("%w: cluster %q did not answer within %s", release.ErrClusterUnavailable, c.Config.Name, c.Config.timeout())
	}
	return err
}

// start validates a change under the release's lock, then starts it as an
// operation. validate runs with the lock held, so no other helmgraph
// operation can change the release between validation and start.
func (r *Registry) start(ctx context.Context, m *ops.Manager, spec ops.Spec, validate func(ctx context.Context, c *Cluster, mu Mutator) error, work func(ctx context.Context, mu Mutator, rep ops.Reporter) (*ops.Result, error)) (*ops.Operation, error) {
	c, mu, err := r.mutator(spec.Target.Cluster)
	if err != nil {
		return nil, err
	}
	switch d := c.driver(ctx).(type) {
	case unavailable:
		return nil, d.err
	case Mutator:
		mu = d // the caller's own rights, when the cluster impersonates
	}
	if err := c.checkCaller(ctx, spec.Target.Namespace); err != nil {
		return nil, err
	}
	unlock, err := m.Lock(spec.Target)
	if err != nil {
		return nil, err
	}
	defer unlock() // a no-op once Start has taken the lock over
	if err := c.call(ctx, func(ctx context.Context) error { return mu.CheckAccess(ctx, spec.Target.Namespace) }); err != nil {
		return nil, err
	}
	if validate != nil {
		if err := validate(ctx, c, mu); err != nil {
			return nil, err
		}
	}
	op, err := m.Start(ctx, spec, func(ctx context.Context, rep ops.Reporter) (*ops.Result, error) {
		return work(ctx, mu, rep)
	})
	if err != nil {
		return nil, err
	}
	if c.Log != nil {
		c.Log.Info("operation started", "operation", op.ID, "kind", op.Kind, "release", spec.Target.String(), "dryRun", spec.DryRun)
	}
	return op, nil
}

// latest returns the latest revision of a release (nil, nil when there is none).
func (c *Cluster) latest(ctx context.Context, ref release.Ref) (*release.Release, error) {
	var rel *release.Release
	err := c.call(ctx, func(ctx context.Context) error {
		var err error
		rel, err = c.driver(ctx).Get(ctx, ref, 0)
		return err
	})
	if errors.Is(err, release.ErrNotFound) {
		return nil, nil
	}
	return rel, err
}

func notFound(ref release.Ref) error {
	return fmt.Errorf("%w: release %q in namespace %q of cluster %q", release.ErrNotFound, ref.Name, ref.Namespace, ref.Cluster)
}

// stuck refuses to change a release whose latest revision is pending while
// no helmgraph operation runs for it (the caller holds its lock): an
// install, upgrade or rollback was interrupted, and Helm would refuse too.
func stuck(ref release.Ref, rel *release.Release) error {
	switch rel.Status {
	case release.StatusPendingInstall, release.StatusPendingUpgrade, release.StatusPendingRollback:
		return fmt.Errorf("%w: release %q in namespace %q of cluster %q is stuck in %s (revision %d); roll it back with rollbackRelease",
			release.ErrConflict, ref.Name, ref.Namespace, ref.Cluster, rel.Status, rel.Revision)
	}
	return nil
}

// Install validates an install and starts it as an operation.
func (r *Registry) Install(ctx context.Context, m *ops.Manager, req ops.InstallRequest) (*ops.Operation, error) {
	spec := ops.Spec{Kind: ops.KindInstall, Target: req.Ref, DryRun: req.DryRun,
		Message: fmt.Sprintf("install chart %s %s from %s", req.Chart.Name, req.Chart.Version, req.Chart.Source)}
	return r.start(ctx, m, spec, func(ctx context.Context, c *Cluster, mu Mutator) error {
		// Helm's own check of the name is skipped in dry runs: make it here.
		rel, err := c.latest(ctx, req.Ref)
		if err != nil {
			return err
		}
		if rel != nil {
			return fmt.Errorf("%w: release %q in namespace %q of cluster %q already exists (revision %d, %s): helm cannot reuse a name that is still in use; upgrade it, or uninstall it first",
				release.ErrConflict, req.Ref.Name, req.Ref.Namespace, req.Ref.Cluster, rel.Revision, rel.Status)
		}
		if req.DryRun {
			return nil // the operation is the validation
		}
		return c.check(ctx, func(ctx context.Context) error { return mu.ValidateInstall(ctx, req) })
	}, func(ctx context.Context, mu Mutator, rep ops.Reporter) (*ops.Result, error) {
		return mu.Install(ctx, req, rep)
	})
}

// Upgrade validates an upgrade and starts it as an operation.
func (r *Registry) Upgrade(ctx context.Context, m *ops.Manager, req ops.UpgradeRequest) (*ops.Operation, error) {
	spec := ops.Spec{Kind: ops.KindUpgrade, Target: req.Ref, DryRun: req.DryRun,
		Message: fmt.Sprintf("upgrade to chart %s %s from %s", req.Chart.Name, req.Chart.Version, req.Chart.Source)}
	if req.ReuseValues && req.ResetValues {
		return nil, fmt.Errorf("%w: input.reuseValues and input.resetValues: set at most one", release.ErrInvalidArgument)
	}
	return r.start(ctx, m, spec, func(ctx context.Context, c *Cluster, mu Mutator) error {
		rel, err := c.latest(ctx, req.Ref)
		if err != nil {
			return err
		}
		if rel == nil {
			return notFound(req.Ref)
		}
		if err := stuck(req.Ref, rel); err != nil {
			return err
		}
		if req.DryRun {
			return nil
		}
		return c.check(ctx, func(ctx context.Context) error { return mu.ValidateUpgrade(ctx, req) })
	}, func(ctx context.Context, mu Mutator, rep ops.Reporter) (*ops.Result, error) {
		return mu.Upgrade(ctx, req, rep)
	})
}

// Rollback validates a rollback and starts it as an operation. A release
// stuck in a pending state may be rolled back: that is the way out.
func (r *Registry) Rollback(ctx context.Context, m *ops.Manager, req ops.RollbackRequest) (*ops.Operation, error) {
	if req.Revision < 0 {
		return nil, fmt.Errorf("%w: input.revision: must be at least 1, got %d", release.ErrInvalidArgument, req.Revision)
	}
	target := "the previous revision"
	if req.Revision > 0 {
		target = fmt.Sprintf("revision %d", req.Revision)
	}
	spec := ops.Spec{Kind: ops.KindRollback, Target: req.Ref, DryRun: req.DryRun, Message: "roll back to " + target}
	return r.start(ctx, m, spec, func(ctx context.Context, c *Cluster, mu Mutator) error {
		hist, err := r.History(ctx, req.Ref)
		if errors.Is(err, release.ErrNotFound) {
			return notFound(req.Ref)
		}
		if err != nil {
			return err
		}
		var revs []string
		found := false
		want := req.Revision
		if want == 0 {
			want = hist[0].Revision - 1
		}
		for _, s := range hist {
			revs = append(revs, fmt.Sprint(s.Revision))
			found = found || s.Revision == want
		}
		if !found {
			return fmt.Errorf("%w: input.revision: release %q has no revision %d to roll back to (revisions: %s)",
				release.ErrInvalidArgument, req.Ref.Name, want, strings.Join(revs, ", "))
		}
		return nil
	}, func(ctx context.Context, mu Mutator, rep ops.Reporter) (*ops.Result, error) {
		return mu.Rollback(ctx, req, rep)
	})
}

// Uninstall validates an uninstall and starts it as an operation.
func (r *Registry) Uninstall(ctx context.Context, m *ops.Manager, req ops.UninstallRequest) (*ops.Operation, error) {
	spec := ops.Spec{Kind: ops.KindUninstall, Target: req.Ref, Message: "uninstall"}
	if req.KeepHistory {
		spec.Message = "uninstall, keeping the history"
	}
	return r.start(ctx, m, spec, func(ctx context.Context, c *Cluster, mu Mutator) error {
		rel, err := c.latest(ctx, req.Ref)
		if err != nil {
			return err
		}
		if rel == nil {
			return notFound(req.Ref)
		}
		return nil
	}, func(ctx context.Context, mu Mutator, rep ops.Reporter) (*ops.Result, error) {
		return mu.Uninstall(ctx, req, rep)
	})
}

// Test validates a test run and starts it as an operation.
func (r *Registry) Test(ctx context.Context, m *ops.Manager, req ops.TestRequest) (*ops.Operation, error) {
	spec := ops.Spec{Kind: ops.KindTest, Target: req.Ref, Message: "run the release's tests"}
	if len(req.Filter) > 0 {
		spec.Message = "run tests " + strings.Join(req.Filter, ", ")
	}
	return r.start(ctx, m, spec, func(ctx context.Context, c *Cluster, mu Mutator) error {
		rel, err := c.latest(ctx, req.Ref)
		if err != nil {
			return err
		}
		if rel == nil {
			return notFound(req.Ref)
		}
		if rel.Status == release.StatusUninstalled || slices.Contains([]release.Status{release.StatusPendingInstall}, rel.Status) {
			return fmt.Errorf("%w: release %q is %s; there is nothing to test", release.ErrInvalidArgument, req.Ref.Name, rel.Status)
		}
		return nil
	}, func(ctx context.Context, mu Mutator, rep ops.Reporter) (*ops.Result, error) {
		return mu.Test(ctx, req, rep)
	})
}

// MutatorFor checks that the named cluster is configured and can change
// releases, naming input.cluster when not.
func (r *Registry) MutatorFor(name string) (*Cluster, Mutator, error) { return r.mutator(name) }
