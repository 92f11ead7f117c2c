package ops_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

var target = release.Ref{Cluster: "alpha", Namespace: "web", Name: "shop"}

func newManager(t *testing.T) *ops.Manager {
	t.Helper()
	m := ops.NewManager(ops.NewMemoryStore(0), nil)
	t.Cleanup(m.Close)
	return m
}

func start(t *testing.T, m *ops.Manager, ref release.Ref, work ops.Work) *ops.Operation {
	t.Helper()
	unlock, err := m.Lock(ref)
	if err != nil {
		t.Fatalf("Lock(%s) error = %v", ref, err)
	}
	op, err := m.Start(t.Context(), ops.Spec{Kind: ops.KindUpgrade, Target: ref, Message: "upgrading"}, work)
	if err != nil {
		unlock()
		t.Fatalf("Start error = %v", err)
	}
	return op
}

// wait polls until the operation ends.
func wait(t *testing.T, m *ops.Manager, id string) *ops.Operation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		op, err := m.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if op.Phase.Done() {
			return op
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("operation %s did not end within 10s", id)
	return nil
}

func texts(op *ops.Operation) []string {
	var out []string
	for _, m := range op.Messages {
		out = append(out, m.Text)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantPhase ops.Phase
		wantCode  string
		wantLast  string
	}{
		{"success", nil, ops.PhaseSucceeded, "", "succeeded"},
		{"conflict", fmt.Errorf("upgrade: %w: pending", release.ErrConflict), ops.PhaseFailed, "CONFLICT", "failed: upgrade: conflict: pending"},
		{"bad chart", fmt.Errorf("%w: chart: does not render", release.ErrInvalidArgument), ops.PhaseFailed, "INVALID_ARGUMENT", "failed: invalid argument: chart: does not render"},
		{"unclassified", errors.New("boom"), ops.PhaseFailed, "INTERNAL", "failed: boom"},
		{"tests failed", &ops.TestFailure{Failed: []string{"smoke"}}, ops.PhaseFailed, ops.CodeTestFailed, "failed: 1 test(s) failed: [smoke]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t)
			release := make(chan struct{})
			op := start(t, m, target, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) {
				<-release
				r.Progress("step 1")
				r.Progress("step 2")
				return &ops.Result{}, tt.err
			})
			if op.Phase != ops.PhasePending || op.ID == "" || op.Kind != ops.KindUpgrade || op.Target != target {
				t.Errorf("Start() = %+v, want a PENDING upgrade of %s with an id", op, target)
			}
			close(release)
			done := wait(t, m, op.ID)
			if done.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", done.Phase, tt.wantPhase)
			}
			if got := texts(done); len(got) != 4 || got[0] != "upgrading" || got[1] != "step 1" || got[2] != "step 2" || got[3] != tt.wantLast {
				t.Errorf("messages = %q, want [upgrading step 1 step 2 %s]", got, tt.wantLast)
			}
			for i := 1; i < len(done.Messages); i++ {
				if done.Messages[i].Time.Before(done.Messages[i-1].Time) {
					t.Errorf("message %d is older than message %d", i, i-1)
				}
			}
			if tt.wantCode == "" && done.Error != nil || tt.wantCode != "" && (done.Error == nil || done.Error.Code != tt.wantCode) {
				t.Errorf("error = %+v, want code %q", done.Error, tt.wantCode)
			}
			if done.StartedAt == nil || done.FinishedAt == nil || done.FinishedAt.Before(*done.StartedAt) {
				t.Errorf("startedAt %v finishedAt %v, want both, in order", done.StartedAt, done.FinishedAt)
			}
		})
	}
}

func TestConflict(t *testing.T) {
	m := newManager(t)
	block := make(chan struct{})
	first := start(t, m, target, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) {
		<-block
		return nil, nil
	})
	_, err := m.Lock(target)
	if !errors.Is(err, release.ErrConflict) || !strings.Contains(err.Error(), first.ID) {
		t.Errorf("second Lock while %s runs: error = %v, want ErrConflict naming it", first.ID, err)
	}
	// Another release is not affected.
	other := target
	other.Name = "other"
	unlock, err := m.Lock(other)
	if err != nil {
		t.Errorf("Lock(%s) error = %v, want none", other, err)
	} else {
		unlock()
	}
	close(block)
	wait(t, m, first.ID)
	// The lock is released when the operation ends.
	unlock, err = m.Lock(target)
	if err != nil {
		t.Fatalf("Lock after the first operation ended: error = %v", err)
	}
	unlock()
	// A reservation that is given up frees the release too.
	unlock, _ = m.Lock(target)
	if _, err := m.Lock(target); !errors.Is(err, release.ErrConflict) {
		t.Errorf("Lock during validation: error = %v, want ErrConflict", err)
	}
	unlock()
	if _, err := m.Start(t.Context(), ops.Spec{Kind: ops.KindInstall, Target: target}, nil); err == nil {
		t.Errorf("Start without Lock: error = nil, want an error")
	}
}

func TestSubscribe(t *testing.T) {
	m := newManager(t)
	step := make(chan struct{})
	op := start(t, m, target, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) {
		for i := range 3 {
			<-step
			r.Progress(fmt.Sprintf("step %d", i))
		}
		return nil, nil
	})
	ch, err := m.Subscribe(t.Context(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	var seen []*ops.Operation
	go func() {
		for range 3 {
			step <- struct{}{}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case o, ok := <-ch:
			if !ok {
				open = false
				break
			}
			seen = append(seen, o)
		case <-timeout:
			t.Fatal("subscription did not end within 10s")
		}
	}
	if len(seen) < 2 {
		t.Fatalf("got %d updates, want the current state and at least the end", len(seen))
	}
	last := seen[len(seen)-1]
	if last.Phase != ops.PhaseSucceeded || len(last.Messages) != 5 {
		t.Errorf("last update: phase %s messages %q, want SUCCEEDED with 5 messages", last.Phase, texts(last))
	}
	for i := 1; i < len(seen); i++ {
		if len(seen[i].Messages) < len(seen[i-1].Messages) {
			t.Errorf("update %d has fewer messages than update %d", i, i-1)
		}
	}
	// A finished operation: its final state, then the end.
	ch, err = m.Subscribe(t.Context(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o := <-ch; o.Phase != ops.PhaseSucceeded {
		t.Errorf("subscribe to finished: phase %s, want SUCCEEDED", o.Phase)
	}
	if _, ok := <-ch; ok {
		t.Errorf("subscribe to finished: channel still open")
	}
	if _, err := m.Subscribe(t.Context(), "op_missing"); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("Subscribe(unknown) error = %v, want ErrNotFound", err)
	}
}

// Close interrupts running work through its context and records the end.
func TestCloseInterrupts(t *testing.T) {
	store := ops.NewMemoryStore(0)
	m := ops.NewManager(store, nil)
	started := make(chan struct{})
	op := start(t, m, target, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	<-started
	m.Close()
	got, err := store.Get(t.Context(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Phase != ops.PhaseFailed || got.Error == nil || !strings.Contains(got.Error.Message, "interrupted") {
		t.Errorf("after Close: phase %s error %+v, want FAILED and interrupted", got.Phase, got.Error)
	}
	if _, err := m.Lock(target); err == nil {
		t.Errorf("Lock after Close: error = nil, want a refusal")
	}
}

func TestPanicFailsOperation(t *testing.T) {
	m := newManager(t)
	op := start(t, m, target, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) { panic("oops") })
	got := wait(t, m, op.ID)
	if got.Phase != ops.PhaseFailed || got.Error.Code != "INTERNAL" {
		t.Errorf("panicking work: phase %s error %+v, want FAILED INTERNAL", got.Phase, got.Error)
	}
}

func TestListPages(t *testing.T) {
	m := newManager(t)
	var ids []string
	for i := range 5 {
		ref := target
		ref.Name = fmt.Sprintf("r%d", i)
		op := start(t, m, ref, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) { return nil, nil })
		wait(t, m, op.ID)
		ids = append(ids, op.ID)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	two := 2
	var got []string
	after := ""
	for range 5 {
		p, err := m.List(t.Context(), ops.Filter{Cluster: "alpha"}, &two, after)
		if err != nil {
			t.Fatal(err)
		}
		if p.TotalCount != 5 {
			t.Errorf("totalCount = %d, want 5", p.TotalCount)
		}
		for _, o := range p.Items {
			got = append(got, o.ID)
		}
		if !p.HasNextPage {
			break
		}
		after = p.Cursors[len(p.Cursors)-1]
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages = %v, want newest first %v", got, want)
	}
	p, err := m.List(t.Context(), ops.Filter{Name: "r3", Phases: []ops.Phase{ops.PhaseSucceeded}}, nil, "")
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != ids[3] {
		t.Errorf("filter by name: %v %v, want only %s", p.Items, err, ids[3])
	}
	if p, _ := m.List(t.Context(), ops.Filter{Kinds: []ops.Kind{ops.KindTest}}, nil, ""); len(p.Items) != 0 {
		t.Errorf("filter by kind TEST: %d items, want none", len(p.Items))
	}
	bad := 1000
	if _, err := m.List(t.Context(), ops.Filter{}, &bad, ""); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("first 1000: error = %v, want ErrInvalidArgument", err)
	}
	if _, err := m.List(t.Context(), ops.Filter{}, nil, "garbage!"); !errors.Is(err, release.ErrInvalidArgument) {
		t.Errorf("bad cursor: error = %v, want ErrInvalidArgument", err)
	}
}

func TestMemoryStoreEvictsOldestFinished(t *testing.T) {
	s := ops.NewMemoryStore(2)
	for i := range 4 {
		fin := time.Unix(int64(1000+i), 0)
		if err := s.Put(t.Context(), &ops.Operation{ID: fmt.Sprint(i), Phase: ops.PhaseSucceeded, FinishedAt: &fin}); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(t.Context(), &ops.Operation{ID: "running", Phase: ops.PhaseRunning})
	all, _ := s.List(t.Context(), ops.Filter{})
	if len(all) != 3 {
		t.Errorf("kept %d operations, want the 2 newest finished and the running one", len(all))
	}
	for _, id := range []string{"0", "1"} {
		if _, err := s.Get(t.Context(), id); !errors.Is(err, release.ErrNotFound) {
			t.Errorf("Get(%s) error = %v, want ErrNotFound after eviction", id, err)
		}
	}
	if _, err := s.Get(t.Context(), "running"); err != nil {
		t.Errorf("running operation evicted: %v", err)
	}
}

func TestLongMessagesAreCut(t *testing.T) {
	m := newManager(t)
	op := start(t, m, target, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) {
		r.Progress(strings.Repeat("é", ops.MaxMessageBytes))
		return nil, nil
	})
	got := wait(t, m, op.ID)
	if msg := got.Messages[1].Text; len(msg) > ops.MaxMessageBytes+len("…") || !strings.HasSuffix(msg, "…") {
		t.Errorf("message of %d bytes kept as %d bytes, want it cut to %d", 2*ops.MaxMessageBytes, len(msg), ops.MaxMessageBytes)
	}
}

func TestMessagesAreBounded(t *testing.T) {
	m := newManager(t)
	op := start(t, m, target, func(ctx context.Context, r ops.Reporter) (*ops.Result, error) {
		for i := range 2 * ops.DefaultMaxMessages {
			r.Progress(fmt.Sprint("step ", i))
		}
		return nil, nil
	})
	got := wait(t, m, op.ID)
	if n := len(got.Messages); n > ops.DefaultMaxMessages+2 {
		t.Errorf("kept %d messages, want at most about %d", n, ops.DefaultMaxMessages)
	}
	texts := texts(got)
	if last := texts[len(texts)-1]; last != "succeeded" || !strings.Contains(texts[len(texts)-2], "progress messages omitted") {
		t.Errorf("last messages %q, want the omission counted and the end recorded", texts[len(texts)-2:])
	}
}
