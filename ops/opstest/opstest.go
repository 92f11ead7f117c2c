// Package opstest is the conformance suite every ops.Store implementation
// passes (memory here, Redis with the cache): run StoreSuite from the
// implementation's tests.
package opstest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// sample is an operation with every field set, as a finished test run has.
func sample(id string, ref release.Ref, kind ops.Kind, phase ops.Phase) *ops.Operation {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 123456789, time.UTC)
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	return &ops.Operation{
		ID: id, Kind: kind, Target: ref, DryRun: kind == ops.KindUpgrade, Phase: phase,
		Messages:  []ops.Message{{Time: t0, Text: "accepted"}, {Time: t1, Text: "helm: creating 1 resource(s)"}},
		Error:     &ops.Error{Code: ops.CodeTestFailed, Message: "1 test(s) failed: [smoke]"},
		CreatedAt: t0, StartedAt: &t1, FinishedAt: &t2,
		Result: &ops.Result{
			Release: &release.Summary{Ref: ref, Revision: 3, Status: release.StatusDeployed, RawStatus: "deployed",
				Chart: release.Chart{Name: "app", Version: "1.0.0", AppVersion: "v1"}, Updated: t1, Description: "Upgrade complete", Driver: release.DriverHelm},
			DryRun: &ops.DryRun{Revision: 4, Manifest: "kind: ConfigMap\n", Values: map[string]any{"a": "b"}, ComputedValues: map[string]any{"a": "b", "n": 1.5},
				DeployedRevision: 3, ManifestDiff: "--- a\n+++ b\n", ValuesDiff: "-a: c\n+a: b\n"},
			Tests: []ops.TestResult{{Name: "smoke", Kind: "Pod", Phase: "FAILED", StartedAt: &t1, CompletedAt: &t2, Logs: "POD LOGS: smoke\n", LogsError: ""}},
		},
	}
}

func same(t *testing.T, what string, got, want *ops.Operation) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// StoreSuite checks an ops.Store: newStore returns an empty store.
func StoreSuite(t *testing.T, newStore func(t *testing.T) ops.Store) {
	ctx := context.Background()
	a := release.Ref{Cluster: "alpha", Namespace: "web", Name: "shop"}
	b := release.Ref{Cluster: "beta", Namespace: "web", Name: "shop"}
	c := release.Ref{Cluster: "alpha", Namespace: "data", Name: "cache"}

	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		op := sample("op_1", a, ops.KindTest, ops.PhaseFailed)
		if err := s.Put(ctx, op); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "op_1")
		if err != nil {
			t.Fatal(err)
		}
		same(t, "Get after Put", got, op)
	})
	t.Run("unknown id", func(t *testing.T) {
		if _, err := newStore(t).Get(ctx, "op_none"); !errors.Is(err, release.ErrNotFound) {
			t.Errorf("Get(unknown) error = %v, want release.ErrNotFound", err)
		}
	})
	t.Run("put replaces", func(t *testing.T) {
		s := newStore(t)
		op := &ops.Operation{ID: "op_2", Kind: ops.KindInstall, Target: a, Phase: ops.PhasePending, Messages: []ops.Message{}, CreatedAt: time.Unix(100, 0).UTC()}
		if err := s.Put(ctx, op); err != nil {
			t.Fatal(err)
		}
		done := sample("op_2", a, ops.KindInstall, ops.PhaseSucceeded)
		done.Error = nil
		if err := s.Put(ctx, done); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "op_2")
		if err != nil {
			t.Fatal(err)
		}
		same(t, "Get after a second Put", got, done)
		all, err := s.List(ctx, ops.Filter{})
		if err != nil || len(all) != 1 {
			t.Errorf("List() = %d operations, %v; want 1", len(all), err)
		}
	})
	t.Run("stored copies are independent", func(t *testing.T) {
		s := newStore(t)
		op := sample("op_3", a, ops.KindUpgrade, ops.PhaseRunning)
		if err := s.Put(ctx, op); err != nil {
			t.Fatal(err)
		}
		op.Messages = append(op.Messages, ops.Message{Text: "later"})
		op.Phase = ops.PhaseSucceeded
		got, _ := s.Get(ctx, "op_3")
		if got.Phase != ops.PhaseRunning || len(got.Messages) != 2 {
			t.Errorf("changing an operation after Put changed the stored one: %s, %d messages", got.Phase, len(got.Messages))
		}
		got.Messages[0].Text = "changed"
		again, _ := s.Get(ctx, "op_3")
		if again.Messages[0].Text != "accepted" {
			t.Errorf("changing what Get returned changed the stored operation")
		}
	})
	t.Run("list filters", func(t *testing.T) {
		s := newStore(t)
		for _, op := range []*ops.Operation{
			sample("op_a1", a, ops.KindInstall, ops.PhaseSucceeded),
			sample("op_a2", a, ops.KindUpgrade, ops.PhaseRunning),
			sample("op_b1", b, ops.KindInstall, ops.PhaseFailed),
			sample("op_c1", c, ops.KindTest, ops.PhaseSucceeded),
		} {
			if err := s.Put(ctx, op); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			f    ops.Filter
			want []string
		}{
			{"all", ops.Filter{}, []string{"op_a1", "op_a2", "op_b1", "op_c1"}},
			{"cluster", ops.Filter{Cluster: "alpha"}, []string{"op_a1", "op_a2", "op_c1"}},
			{"namespace and name", ops.Filter{Namespace: "web", Name: "shop"}, []string{"op_a1", "op_a2", "op_b1"}},
			{"kinds", ops.Filter{Kinds: []ops.Kind{ops.KindInstall, ops.KindTest}}, []string{"op_a1", "op_b1", "op_c1"}},
			{"phases", ops.Filter{Phases: []ops.Phase{ops.PhaseRunning, ops.PhaseFailed}}, []string{"op_a2", "op_b1"}},
			{"everything", ops.Filter{Cluster: "alpha", Namespace: "web", Name: "shop", Kinds: []ops.Kind{ops.KindUpgrade}, Phases: []ops.Phase{ops.PhaseRunning}}, []string{"op_a2"}},
			{"nothing", ops.Filter{Cluster: "gamma"}, nil},
		}
		for _, tt := range tests {
			got, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range got {
				ids = append(ids, o.ID)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, tt.want) {
				t.Errorf("List(%s) = %v, want %v", tt.name, ids, tt.want)
			}
		}
	})
}
