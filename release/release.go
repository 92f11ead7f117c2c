package release

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ref identifies a release everywhere: which cluster, which namespace, which name.
type Ref struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r Ref) String() string { return r.Cluster + "/" + r.Namespace + "/" + r.Name }

const idPrefix = "Release:"

// ID is the opaque, stable Relay global ID of the release.
func (r Ref) ID() string {
	b, _ := json.Marshal([]string{r.Cluster, r.Namespace, r.Name})
	return base64.RawURLEncoding.EncodeToString(append([]byte(idPrefix), b...))
}

// ParseID is the inverse of Ref.ID.
func ParseID(id string) (Ref, error) {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || !strings.HasPrefix(string(raw), idPrefix) {
		return Ref{}, fmt.Errorf("%w: id %q is not a release id", ErrInvalidArgument, id)
	}
	var parts []string
	if err := json.Unmarshal(raw[len(idPrefix):], &parts); err != nil || len(parts) != 3 {
		return Ref{}, fmt.Errorf("%w: id %q is not a release id", ErrInvalidArgument, id)
	}
	return Ref{Cluster: parts[0], Namespace: parts[1], Name: parts[2]}, nil
}

// Status is the one release status enum for every driver.
type Status string

const (
	StatusDeployed        Status = "DEPLOYED"
	StatusFailed          Status = "FAILED"
	StatusSuperseded      Status = "SUPERSEDED"
	StatusUninstalled     Status = "UNINSTALLED"
	StatusUninstalling    Status = "UNINSTALLING"
	StatusPendingInstall  Status = "PENDING_INSTALL"
	StatusPendingUpgrade  Status = "PENDING_UPGRADE"
	StatusPendingRollback Status = "PENDING_ROLLBACK"
	StatusUnknown         Status = "UNKNOWN"
)

// AllStatuses lists every Status, in schema order.
var AllStatuses = []Status{StatusDeployed, StatusFailed, StatusSuperseded, StatusUninstalled, StatusUninstalling,
	StatusPendingInstall, StatusPendingUpgrade, StatusPendingRollback, StatusUnknown}

// ParseRawStatus maps a driver's own status word (Helm 3/4 "pending-upgrade",
// Helm 2 "DELETED", swift "PENDING_UPGRADE", ...) to the unified Status.
func ParseRawStatus(raw string) Status {
	s := strings.ToUpper(strings.ReplaceAll(raw, "-", "_"))
	switch s {
	case "DELETED":
		return StatusUninstalled
	case "DELETING":
		return StatusUninstalling
	}
	for _, st := range AllStatuses {
		if string(st) == s {
			return st
		}
	}
	return StatusUnknown
}

// DriverKind says how helmgraph reaches a cluster's releases.
type DriverKind string

const (
	DriverHelm   DriverKind = "HELM"
	DriverTiller DriverKind = "TILLER"
	DriverSwift  DriverKind = "SWIFT"
)

// Summary holds the cheap fields of one revision of a release.
type Summary struct {
	Ref         Ref
	Revision    int
	Status      Status
	RawStatus   string
	Chart       Chart
	Updated     time.Time
	Description string
	Driver      DriverKind
}

// Chart names the chart a revision was rendered from.
type Chart struct {
	Name       string
	Version    string
	AppVersion string
}

// ID is the release's Relay global ID.
func (s Summary) ID() string { return s.Ref.ID() }

// Cluster, Namespace and Name expose the Ref's parts to the graph.
func (s Summary) Cluster() string   { return s.Ref.Cluster }
func (s Summary) Namespace() string { return s.Ref.Namespace }
func (s Summary) Name() string      { return s.Ref.Name }

// AppVersion is the chart's appVersion, the version of the software it deploys.
func (s Summary) AppVersion() string { return s.Chart.AppVersion }

// Resource is one Kubernetes object found in a release's manifest.
type Resource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// Release is one revision of a release with its heavy fields.
type Release struct {
	Summary
	Notes    string
	Manifest string
	// Values are the user-supplied values; ComputedValues are the chart's
	// defaults merged with them, as the templates saw them.
	Values         map[string]any
	ComputedValues map[string]any
}

// Resources parses the manifest into its objects.
func (r *Release) Resources() []Resource { return ParseManifest(r.Manifest) }

// Sentinel errors, mapped to GraphQL extensions.code in one place (the error presenter).
var (
	ErrNotFound           = errors.New("not found")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrClusterUnavailable = errors.New("cluster unavailable")
	ErrConflict           = errors.New("conflict")
	ErrForbidden          = errors.New("forbidden")
)

// ErrorCode maps an error to the API's machine-readable code (GraphQL
// extensions.code, ClusterError.code). Errors without a sentinel are INTERNAL.
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return "NOT_FOUND"
	case errors.Is(err, ErrInvalidArgument):
		return "INVALID_ARGUMENT"
	case errors.Is(err, ErrClusterUnavailable):
		return "CLUSTER_UNAVAILABLE"
	case errors.Is(err, ErrConflict):
		return "CONFLICT"
	case errors.Is(err, ErrForbidden):
		return "FORBIDDEN"
	}
	return "INTERNAL"
}

// Node is anything with a Relay global ID.
type Node interface{ ID() string }
