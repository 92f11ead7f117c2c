package clusters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/release"
)

// fakeReviews answers reviews from rights (subject → namespaces, "" for
// every namespace), fails those of namespaces in failing, and counts them.
type fakeReviews struct {
	mu      sync.Mutex
	rights  map[string][]string
	failing map[string]bool
	asked   map[string]int // "subject/namespace" → reviews
	gate    chan struct{}  // when set, each review waits for it
}

func (f *fakeReviews) review(ctx context.Context, id auth.Identity, ns string) (bool, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[id.Subject+"/"+ns]++
	if f.failing[ns] {
		return true, errors.New("connection refused")
	}
	for _, n := range f.rights[id.Subject] {
		if n == ns {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeReviews) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[key]
}

func newFakeChecks(f *fakeReviews, now *time.Time) *accessChecks {
	f.asked = map[string]int{}
	a := newAccessChecks(f.review, time.Second, slog.New(slog.DiscardHandler))
	a.now = func() time.Time { return *now }
	return a
}

func TestAccessChecksCacheAndExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &fakeReviews{rights: map[string][]string{"erin": {"team"}}}
	a := newFakeChecks(f, &now)
	erin, dave := auth.Identity{Subject: "erin", Groups: []string{"b", "a"}}, auth.Identity{Subject: "dave"}
	ctx := t.Context()
	for range 3 {
		if !a.allowed(ctx, erin, "team") {
			t.Fatal("erin may not list team, want allowed")
		}
		if a.allowed(ctx, dave, "team") {
			t.Fatal("dave may list team, want refused")
		}
	}
	// Groups in another order are the same identity.
	a.allowed(ctx, auth.Identity{Subject: "erin", Groups: []string{"a", "b"}}, "team")
	for key, want := range map[string]int{"erin/": 1, "erin/team": 1, "dave/": 1, "dave/team": 1} {
		if got := f.count(key); got != want {
			t.Errorf("reviews of %s = %d, want %d (answers kept for the TTL)", key, got, want)
		}
	}
	now = now.Add(accessTTL)
	f.mu.Lock()
	f.rights["erin"] = nil // the cluster's RBAC changed
	f.mu.Unlock()
	if a.allowed(ctx, erin, "team") {
		t.Error("erin may still list team after the TTL, want the new answer")
	}
	if got := f.count("erin/team"); got != 2 {
		t.Errorf("reviews of erin/team after the TTL = %d, want 2", got)
	}
}

func TestAccessChecksClusterWide(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &fakeReviews{rights: map[string][]string{"root": {""}}}
	a := newFakeChecks(f, &now)
	root := auth.Identity{Subject: "root"}
	for _, ns := range []string{"a", "b", "c"} {
		if !a.allowed(t.Context(), root, ns) {
			t.Errorf("root may not list %s, want allowed by the cluster-wide right", ns)
		}
	}
	if got := f.count("root/a"); got != 0 {
		t.Errorf("per-namespace reviews = %d, want none after a cluster-wide allow", got)
	}
	rels := []release.Summary{{Ref: release.Ref{Namespace: "a"}}, {Ref: release.Ref{Namespace: "b"}}}
	if got, err := a.listable(t.Context(), root, rels); err != nil || len(got) != 2 {
		t.Errorf("listable(root) = %v, %v, want both", got, err)
	}
}

// A review that fails answers "no" and is not kept: the next call asks again.
func TestAccessChecksFailClosed(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &fakeReviews{rights: map[string][]string{"erin": {"team", "down"}}, failing: map[string]bool{"down": true}}
	a := newFakeChecks(f, &now)
	erin := auth.Identity{Subject: "erin"}
	for i := range 2 {
		if a.allowed(t.Context(), erin, "down") {
			t.Fatal("a failed review allowed the call")
		}
		if got := f.count("erin/down"); got != i+1 {
			t.Fatalf("reviews of erin/down = %d, want %d (failures not kept)", got, i+1)
		}
	}
	rels := []release.Summary{
		{Ref: release.Ref{Namespace: "team", Name: "a"}},
		{Ref: release.Ref{Namespace: "down", Name: "b"}},
		{Ref: release.Ref{Namespace: "other", Name: "c"}},
		{Ref: release.Ref{Namespace: "team", Name: "d"}},
	}
	before := fmt.Sprint(rels)
	got, err := a.listable(t.Context(), erin, rels)
	if fmt.Sprint(got) != fmt.Sprint([]release.Summary{rels[0], rels[3]}) {
		t.Errorf("listable = %v, want team's releases only", got)
	}
	if !errors.Is(err, release.ErrClusterUnavailable) {
		t.Errorf("listable error = %v, want ErrClusterUnavailable naming the failed namespace", err)
	}
	if fmt.Sprint(rels) != before {
		t.Errorf("listable modified its input: %v", rels)
	}
}

// Callers of the same key while a review runs wait for it: one review.
func TestAccessChecksOneReviewAtATime(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &fakeReviews{rights: map[string][]string{"erin": {""}}, gate: make(chan struct{})}
	a := newFakeChecks(f, &now)
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for range 10 {
		wg.Go(func() {
			if ok, _ := a.decide(t.Context(), auth.Identity{Subject: "erin"}, ""); ok {
				allowed.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	if got := f.count("erin/"); got != 1 {
		t.Errorf("reviews = %d, want 1 shared by all", got)
	}
	if allowed.Load() != 10 {
		t.Errorf("%d of 10 callers allowed, want all", allowed.Load())
	}
	// A waiter whose context ends stops waiting, refused.
	f.gate = make(chan struct{})
	defer close(f.gate)
	now = now.Add(accessTTL)
	go a.decide(t.Context(), auth.Identity{Subject: "erin"}, "")
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if ok, err := a.decide(ctx, auth.Identity{Subject: "erin"}, ""); ok || err == nil {
		t.Errorf("decide with an ended context = %v, %v, want refused with its error", ok, err)
	}
}

// Registry.Visible only asks about impersonating clusters, for a caller.
func TestRegistryVisibleWithoutCaller(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &fakeReviews{rights: map[string][]string{}}
	imp := &impersonator{access: newFakeChecks(f, &now)}
	r := NewRegistry([]*Cluster{{Config: Config{Name: "imp"}, imp: imp}, {Config: Config{Name: "plain"}}})
	ctx := auth.WithIdentity(t.Context(), auth.Identity{Subject: "dave"})
	for _, tt := range []struct {
		ctx     context.Context
		cluster string
		want    bool
	}{
		{t.Context(), "imp", true}, // no caller: as before
		{ctx, "plain", true},
		{ctx, "unknown", true},
		{ctx, "imp", false},
	} {
		if got := r.Visible(tt.ctx, tt.cluster, "ns"); got != tt.want {
			t.Errorf("Visible(%s) = %v, want %v", tt.cluster, got, tt.want)
		}
	}
	if got := f.count("dave/"); got != 1 {
		t.Errorf("reviews = %d, want 1 (only the impersonating cluster, for the caller)", got)
	}
}
