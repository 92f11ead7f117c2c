package release

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseRawStatus(t *testing.T) {
	tests := []struct {
		raw  string
		want Status
	}{
		{"deployed", StatusDeployed},
		{"pending-upgrade", StatusPendingUpgrade},
		{"pending-rollback", StatusPendingRollback},
		{"uninstalled", StatusUninstalled},
		{"DELETED", StatusUninstalled}, // Helm 2
		{"DELETING", StatusUninstalling},
		{"PENDING_INSTALL", StatusPendingInstall}, // swift
		{"superseded", StatusSuperseded},
		{"failed", StatusFailed},
		{"whatever", StatusUnknown},
		{"", StatusUnknown},
	}
	for _, tt := range tests {
		if got := ParseRawStatus(tt.raw); got != tt.want {
			t.Errorf("ParseRawStatus(%q) = %s, want %s", tt.raw, got, tt.want)
		}
	}
}

func TestIDRoundTrip(t *testing.T) {
	for _, ref := range []Ref{{"a", "b", "c"}, {"prod.eu", "kube-system", "x-1"}, {"c", "ns", "with\"quote"}} {
		got, err := ParseID(ref.ID())
		if err != nil || got != ref {
			t.Errorf("ParseID(ID(%v)) = %v, %v", ref, got, err)
		}
	}
	for _, bad := range []string{"", "%%%", "UmVsZWFzZTp4", Ref{"a", "b", "c"}.ID() + "x"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseID(%q) error = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestParseManifest(t *testing.T) {
	m := `---
# Source: webapp/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
`
	got := ParseManifest(m)
	want := []Resource{{"v1", "Service", "shop", "web"}, {"apps/v1", "Deployment", "", "web"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseManifest = %v, want %v", got, want)
	}
	if got := ParseManifest(""); len(got) != 0 {
		t.Errorf("ParseManifest(\"\") = %v, want none", got)
	}
}

func TestErrorCode(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("x: %w", ErrNotFound):           "NOT_FOUND",
		fmt.Errorf("x: %w", ErrInvalidArgument):    "INVALID_ARGUMENT",
		fmt.Errorf("x: %w", ErrClusterUnavailable): "CLUSTER_UNAVAILABLE",
		fmt.Errorf("x: %w", ErrConflict):           "CONFLICT",
		fmt.Errorf("x: %w", ErrForbidden):          "FORBIDDEN",
		errors.New("boom"):                         "INTERNAL",
	} {
		if got := ErrorCode(err); got != want {
			t.Errorf("ErrorCode(%v) = %s, want %s", err, got, want)
		}
	}
}
