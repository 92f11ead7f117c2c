package cache_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/release"
)

// A subscriber that does not read is dropped with an error once its buffer
// is full; the others receive every event.
func TestHubDropsSlowSubscriber(t *testing.T) {
	bus := memory.New()
	hub := cache.NewHub(bus, 4, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// The Hub subscribes to the bus asynchronously: wait until events flow.
	probe := hub.Subscribe(nil)
	warm := cache.Event{Type: cache.Added, Release: release.Summary{Ref: release.Ref{Cluster: "warmup"}}}
	for flowing := false; !flowing; {
		bus.Publish(ctx, warm)
		select {
		case <-probe.C:
			flowing = true
		case <-time.After(20 * time.Millisecond):
		}
	}
	probe.Close()

	slow := hub.Subscribe(nil)
	fast := hub.Subscribe(nil)
	none := hub.Subscribe(func(ev *cache.Event) bool { return ev.Release.Ref.Cluster == "elsewhere" })
	// fast reads each event before the next is published; slow never reads.
	for i := range 20 {
		ev := cache.Event{Type: cache.Modified, Release: release.Summary{Ref: release.Ref{Cluster: "east", Name: "r"}, Revision: i}}
		if err := bus.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		select {
		case got, ok := <-fast.C:
			if !ok || got.Release.Revision != i {
				t.Fatalf("fast subscriber got %+v (open %v), want revision %d", got, ok, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("fast subscriber: event %d not delivered within 10s", i)
		}
	}
	n := 0
	for range slow.C { // closed by the Hub
		n++
	}
	if n != 4 {
		t.Errorf("slow subscriber had %d events buffered, want its buffer of 4", n)
	}
	if err := slow.Err(); err == nil || !strings.Contains(err.Error(), "too slow") {
		t.Errorf("slow subscriber's Err() = %v, want one saying it was too slow", err)
	}
	select {
	case ev, ok := <-none.C:
		t.Errorf("filtered subscriber got %+v (open %v), want nothing", ev, ok)
	default:
	}
	if got := hub.Subscribers(); got != 2 {
		t.Errorf("Subscribers() = %d, want 2 (fast, filtered)", got)
	}
}
