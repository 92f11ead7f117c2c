package cache

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// listDriver answers List from a list the test changes.
type listDriver struct {
	mu   sync.Mutex
	rels []release.Summary
}

func (d *listDriver) set(rels ...release.Summary) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rels = rels
}

func (d *listDriver) Kind() release.DriverKind { return release.DriverTiller }
func (d *listDriver) List(ctx context.Context, _ []string) ([]release.Summary, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]release.Summary(nil), d.rels...), nil
}
func (d *listDriver) Get(context.Context, release.Ref, int) (*release.Release, error) {
	return nil, nil
}
func (d *listDriver) History(context.Context, release.Ref) ([]release.Summary, error) {
	return nil, nil
}
func (d *listDriver) Version(context.Context) (string, error) { return "v2.17.0", nil }

type call struct {
	kind string
	n    int
	ref  release.Ref
	st   release.Status
}

type callSink struct{ calls chan call }

func (s callSink) Replace(_ context.Context, rels []release.Summary) error {
	s.calls <- call{kind: "replace", n: len(rels)}
	return nil
}
func (s callSink) Upsert(_ context.Context, r release.Summary) error {
	s.calls <- call{kind: "upsert", ref: r.Ref, st: r.Status}
	return nil
}
func (s callSink) Delete(_ context.Context, ref release.Ref) error {
	s.calls <- call{kind: "delete", ref: ref}
	return nil
}

// Drivers without a watch are polled: a changed status is an upsert, a
// vanished release a delete, an unchanged list nothing.
func TestPoller(t *testing.T) {
	a := release.Summary{Ref: release.Ref{Cluster: "old", Namespace: "web", Name: "a"}, Revision: 1, Status: release.StatusDeployed}
	b := release.Summary{Ref: release.Ref{Cluster: "old", Namespace: "web", Name: "b"}, Revision: 3, Status: release.StatusDeployed}
	d := &listDriver{}
	d.set(a, b)
	sink := callSink{calls: make(chan call, 16)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- poller{driver: d, interval: 10 * time.Millisecond, timeout: time.Second}.Watch(ctx, sink)
	}()
	next := func() call {
		t.Helper()
		select {
		case c := <-sink.calls:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no report within 10s")
		}
		return call{}
	}
	if c := next(); c.kind != "replace" || c.n != 2 {
		t.Fatalf("first report = %+v, want replace of 2", c)
	}
	failed := a
	failed.Status, failed.Revision = release.StatusFailed, 2
	d.set(failed, b)
	if c := next(); c.kind != "upsert" || c.ref != a.Ref || c.st != release.StatusFailed {
		t.Errorf("after a's upgrade failed: %+v, want an upsert of %s as FAILED", c, a.Ref)
	}
	d.set(failed)
	if c := next(); c.kind != "delete" || c.ref != b.Ref {
		t.Errorf("after b went: %+v, want its delete", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch() after cancel = %v, want nil", err)
	}
	select {
	case c := <-sink.calls:
		t.Errorf("unchanged lists reported %+v", c)
	default:
	}
}
