package swift_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters/swift"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/release"
)

// events is a release.Sink that passes what it is told on as lines.
type events chan string

func (e events) Replace(_ context.Context, rels []release.Summary) error {
	e <- fmt.Sprintf("replace %d", len(rels))
	return nil
}

func (e events) Upsert(_ context.Context, s release.Summary) error {
	e <- fmt.Sprintf("upsert %s v%d %s", s.Ref.Name, s.Revision, s.Status)
	return nil
}

func (e events) Delete(_ context.Context, ref release.Ref) error {
	e <- "delete " + ref.Name
	return nil
}

// next waits for want, skipping other lines, and says how long it took.
func (e events) next(t *testing.T, want string) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case got := <-e:
			if got == want {
				return time.Since(start)
			}
			seen = append(seen, got)
		case <-timeout:
			t.Fatalf("watch did not report %q within 10s; other events: %q", want, seen)
		}
	}
}

// storageWatchTest runs inside TestServiceProxy, through its proxy to the
// gateway over the shared Tiller (releases in ConfigMaps of kube-system):
// the driver watches that storage and reports changes promptly, the poll
// interval being an hour, so that only the storage watch explains them.
func storageWatchTest(t *testing.T, sp *swift.ServiceProxy) {
	ctx := ctxFor(t)
	d, err := swift.New(swift.Config{Cluster: clusterName, Endpoint: sp, PollInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := localcluster.DialTiller(testTiller.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Gone already unless a step failed; then it would spoil the other tests' lists.
		c.Delete(context.Background(), "swifty", true)
		c.Close()
	})
	initial, err := d.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := make(events, 64)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Watch(wctx, sink) }()
	sink.next(t, fmt.Sprintf("replace %d", len(initial)))
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { return c.Install(ctx, "storagewatch", "swifty", "jobs", nil) }, "upsert swifty v1 DEPLOYED"},
		{func() error { return c.Upgrade(ctx, "swifty", "jobs", map[string]any{"suspend": true}) }, "upsert swifty v2 DEPLOYED"},
		{func() error { return c.Delete(ctx, "swifty", true) }, "delete swifty"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		if took := sink.next(t, s.want); took > 5*time.Second {
			t.Errorf("%q took %s to reach the sink; want a few seconds at most", s.want, took)
		} else {
			t.Logf("%q reached the sink after %s", s.want, took)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Watch() after cancel = %v, want nil", err)
	}
}
