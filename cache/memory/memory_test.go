package memory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/cache/storetest"
	"github.com/helmgraph/helmgraph/release"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (cache.Backend, cache.Backend) {
		b := memory.New()
		return b, b // one process: both "replicas" share the one backend
	})
}

// The detail cache keeps the most recently used entries within its byte cap.
func TestDetailEviction(t *testing.T) {
	ctx := t.Context()
	rev := func(n int) *release.Release {
		return &release.Release{
			Summary:  release.Summary{Ref: release.Ref{Cluster: "east", Namespace: "web", Name: "shop"}, Revision: n, Updated: time.Unix(int64(n), 0)},
			Manifest: strings.Repeat("x", 3000),
		}
	}
	b := memory.New(memory.WithDetailLimits(11_000, 4_000)) // room for three of them
	for n := 1; n <= 3; n++ {
		if err := b.PutDetail(ctx, rev(n)); err != nil {
			t.Fatal(err)
		}
	}
	has := func(n int) bool {
		got, err := b.GetDetail(ctx, rev(n).Ref, n, rev(n).Updated)
		if err != nil {
			t.Fatal(err)
		}
		return got != nil
	}
	if !has(1) { // now the most recently used
		t.Fatal("revision 1 missing before the cap was reached")
	}
	b.PutDetail(ctx, rev(4))
	if got := [4]bool{has(1), has(2), has(3), has(4)}; got != [4]bool{true, false, true, true} {
		t.Errorf("kept revisions 1-4 = %v, want all but 2 (the least recently used)", got)
	}
	big := rev(5)
	big.Manifest = strings.Repeat("x", 5000)
	b.PutDetail(ctx, big)
	if has(5) || !has(4) {
		t.Errorf("an entry over the per-entry cap was kept (%v), or evicted others (revision 4 kept: %v)", has(5), has(4))
	}
}
