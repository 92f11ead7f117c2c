package ops

import (
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// Chart is a chart archive resolved from a repository, a registry or an
// upload. Drivers load the archive with their own SDK, so no SDK chart type
// crosses package boundaries.
type Chart struct {
	Name       string
	Version    string
	AppVersion string
	// Source says where the archive came from, for messages (never with credentials).
	Source  string
	Archive []byte
}

// Common options of the changing operations, as Helm names them.
type Options struct {
	// Wait waits until the release's resources are ready (Helm's --wait).
	Wait bool
	// Timeout bounds the operation's waits and hooks; 5 minutes when zero.
	Timeout time.Duration
	// DisableHooks skips the chart's hooks.
	DisableHooks bool
	// Description replaces Helm's description of the new revision.
	Description string
	// DryRun renders without changing the cluster.
	DryRun bool
}

// InstallRequest installs a chart as a new release.
type InstallRequest struct {
	Ref    release.Ref
	Chart  Chart
	Values map[string]any
	Options
	CreateNamespace bool
	// Atomic uninstalls the release again if the install fails (Helm's --atomic / --rollback-on-failure).
	Atomic bool
	// Force replaces resources that cannot be updated (Helm's --force).
	Force bool
}

// UpgradeRequest upgrades a release to a chart and values.
type UpgradeRequest struct {
	Ref    release.Ref
	Chart  Chart
	Values map[string]any
	Options
	// Atomic rolls back to the previous revision if the upgrade fails.
	Atomic bool
	Force  bool
	// ReuseValues merges Values over the deployed revision's values;
	// ResetValues starts from the chart's defaults. Neither: Helm's default.
	ReuseValues bool
	ResetValues bool
}

// RollbackRequest rolls a release back to an earlier revision.
type RollbackRequest struct {
	Ref release.Ref
	// Revision to roll back to; 0 means the one before the latest.
	Revision int
	Options
	Force bool
}

// UninstallRequest uninstalls a release.
type UninstallRequest struct {
	Ref release.Ref
	Options
	// KeepHistory keeps the release's revisions, the last marked uninstalled.
	KeepHistory bool
}

// TestRequest runs a release's test hooks.
type TestRequest struct {
	Ref     release.Ref
	Timeout time.Duration
	// Filter, when not empty, runs only the tests of these names.
	Filter []string
}

// DefaultTimeout bounds an operation whose request sets no timeout.
const DefaultTimeout = 5 * time.Minute
