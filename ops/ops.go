package ops

import (
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// Kind is what an operation does to its release.
type Kind string

const (
	KindInstall   Kind = "INSTALL"
	KindUpgrade   Kind = "UPGRADE"
	KindRollback  Kind = "ROLLBACK"
	KindUninstall Kind = "UNINSTALL"
	KindTest      Kind = "TEST"
)

// Phase is where an operation is in its life: PENDING → RUNNING → SUCCEEDED | FAILED.
type Phase string

const (
	PhasePending   Phase = "PENDING"
	PhaseRunning   Phase = "RUNNING"
	PhaseSucceeded Phase = "SUCCEEDED"
	PhaseFailed    Phase = "FAILED"
)

// Done reports whether the phase is final.
func (p Phase) Done() bool { return p == PhaseSucceeded || p == PhaseFailed }

// Message is one progress message.
type Message struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// Error is why an operation failed: a machine-readable code (the API's
// codes, see release.ErrorCode, or TEST_FAILED) and a message naming the culprit.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CodeTestFailed is the error code of a test operation whose tests ran and failed.
const CodeTestFailed = "TEST_FAILED"

// Operation is the persisted state of one operation. It is a value: the
// Manager hands out copies, never its own.
type Operation struct {
	ID         string      `json:"id"`
	Kind       Kind        `json:"kind"`
	Target     release.Ref `json:"target"`
	DryRun     bool        `json:"dryRun,omitempty"`
	Phase      Phase       `json:"phase"`
	Messages   []Message   `json:"messages"`
	Error      *Error      `json:"error,omitempty"`
	Result     *Result     `json:"result,omitempty"`
	CreatedAt  time.Time   `json:"createdAt"`
	StartedAt  *time.Time  `json:"startedAt,omitempty"`
	FinishedAt *time.Time  `json:"finishedAt,omitempty"`
}

// Clone returns a deep enough copy for another goroutine to read while the
// original changes.
func (o *Operation) Clone() *Operation {
	c := *o
	c.Messages = append([]Message(nil), o.Messages...)
	if o.Error != nil {
		e := *o.Error
		c.Error = &e
	}
	if o.Result != nil {
		r := *o.Result
		r.Tests = append([]TestResult(nil), o.Result.Tests...)
		c.Result = &r
	}
	return &c
}

// Result is what a finished operation produced.
type Result struct {
	// Release is the revision the operation left behind; nil after an
	// uninstall that kept no history, and for dry runs.
	Release *release.Summary `json:"release,omitempty"`
	// DryRun is set for dry runs.
	DryRun *DryRun `json:"dryRun,omitempty"`
	// Tests are the test hooks a test operation ran.
	Tests []TestResult `json:"tests,omitempty"`
}

// DryRun is what an install, upgrade or rollback would do.
type DryRun struct {
	// Revision is the revision the change would create.
	Revision int `json:"revision"`
	// Manifest is the rendered manifest (hooks excluded).
	Manifest string `json:"manifest"`
	// Notes is the rendered NOTES.txt.
	Notes string `json:"notes"`
	// Values are the user-supplied values the revision would store;
	// ComputedValues are those merged over the chart's defaults.
	Values         map[string]any `json:"values"`
	ComputedValues map[string]any `json:"computedValues"`
	// DeployedRevision is the revision the diffs compare against (0: none).
	DeployedRevision int `json:"deployedRevision"`
	// ManifestDiff and ValuesDiff are unified diffs from the deployed
	// revision to the rendered one (computed values, as YAML).
	ManifestDiff string `json:"manifestDiff"`
	ValuesDiff   string `json:"valuesDiff"`
}

// TestResult is one test hook of a release and how its last run ended.
type TestResult struct {
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	Phase       string     `json:"phase"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	// Logs are the test pod's container logs; LogsError says why they
	// could not be read (e.g. no kubelet serves them).
	Logs      string `json:"logs"`
	LogsError string `json:"logsError,omitempty"`
}
