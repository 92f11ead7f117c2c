package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/release"
)

// decoded is a revision as a driver decodes it from Helm's JSON storage:
// numbers are float64, so that every backend gives back what it was given.
func decoded(rev int) *release.Release {
	return &release.Release{
		Summary:  summary("east", "web", "shop", rev, release.StatusDeployed),
		Notes:    "Visit the shop.",
		Manifest: "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n",
		Values:   map[string]any{"replicaCount": float64(2), "image": map[string]any{"tag": "6.5"}},
		ComputedValues: map[string]any{"replicaCount": float64(2), "image": map[string]any{"tag": "6.5", "pullPolicy": "IfNotPresent"},
			"ports": []any{float64(80), float64(443)}, "debug": false, "extra": nil},
	}
}

func utc(s release.Summary) release.Summary {
	s.Updated = s.Updated.UTC() // same instant; a decoder may pick another location
	return s
}

// details: a decoded revision written by one replica is read by the other
// under exactly its (ref, revision, Updated) key, and oversized ones are not kept.
func details(t *testing.T, newBackend func(t *testing.T) (a, b cache.Backend)) {
	a, b := newBackend(t)
	ctx := t.Context()
	rel := decoded(3)
	if got, err := b.GetDetail(ctx, rel.Ref, rel.Revision, rel.Updated); got != nil || err != nil {
		t.Fatalf("GetDetail before PutDetail = %+v, %v; want a miss (nil, nil)", got, err)
	}
	if err := a.PutDetail(ctx, rel); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetDetail(ctx, rel.Ref, rel.Revision, rel.Updated.Local())
	if err != nil || got == nil {
		t.Fatalf("GetDetail after PutDetail = %v, %v; want the revision", got, err)
	}
	got.Summary = utc(got.Summary)
	if !reflect.DeepEqual(got, rel) {
		t.Errorf("GetDetail =\n%#v\nwant\n%#v", got, rel)
	}
	got.Notes = "changed by a caller"
	if again, _ := b.GetDetail(ctx, rel.Ref, rel.Revision, rel.Updated); again == nil || again.Notes != rel.Notes {
		t.Errorf("a caller's change of its copy reached the store: %+v", again)
	}

	other := func(f func(*release.Ref, *int, *time.Time)) (release.Ref, int, time.Time) {
		ref, rev, upd := rel.Ref, rel.Revision, rel.Updated
		f(&ref, &rev, &upd)
		return ref, rev, upd
	}
	misses := map[string]func(*release.Ref, *int, *time.Time){
		"another Updated (revision number reused after a reinstall)": func(_ *release.Ref, _ *int, u *time.Time) { *u = u.Add(time.Nanosecond) },
		"another revision":  func(_ *release.Ref, r *int, _ *time.Time) { *r = 2 },
		"another release":   func(ref *release.Ref, _ *int, _ *time.Time) { ref.Name = "shop2" },
		"another namespace": func(ref *release.Ref, _ *int, _ *time.Time) { ref.Namespace = "web2" },
		"another cluster":   func(ref *release.Ref, _ *int, _ *time.Time) { ref.Cluster = "west" },
	}
	for what, f := range misses {
		ref, rev, upd := other(f)
		if got, err := b.GetDetail(ctx, ref, rev, upd); got != nil || err != nil {
			t.Errorf("GetDetail of %s = %+v, %v; want a miss", what, got, err)
		}
	}

	big := decoded(4)
	big.Manifest = strings.Repeat("x", cache.DefaultDetailMaxBytes+1)
	if err := a.PutDetail(ctx, big); err != nil {
		t.Fatalf("PutDetail of an oversized revision = %v, want nil (skipped)", err)
	}
	if got, err := b.GetDetail(ctx, big.Ref, big.Revision, big.Updated); got != nil || err != nil {
		t.Errorf("GetDetail of a revision over the size cap = %v, %v; want a miss", got != nil, err)
	}

	labelsOnly := decoded(5)
	labelsOnly.Updated = time.Time{}
	if err := a.PutDetail(ctx, labelsOnly); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetDetail(ctx, labelsOnly.Ref, labelsOnly.Revision, time.Time{}); got != nil {
		t.Errorf("a revision without an Updated time was stored; it cannot tell a reused revision number apart")
	}
}

// histories are found by their newest revision, status and Updated time.
func histories(t *testing.T, newBackend func(t *testing.T) (a, b cache.Backend)) {
	a, b := newBackend(t)
	ctx := t.Context()
	hist := []release.Summary{
		summary("east", "web", "shop", 3, release.StatusDeployed),
		summary("east", "web", "shop", 2, release.StatusSuperseded),
		summary("east", "web", "shop", 1, release.StatusSuperseded),
	}
	latest := hist[0]
	if got, err := b.GetHistory(ctx, latest); got != nil || err != nil {
		t.Fatalf("GetHistory before PutHistory = %+v, %v; want a miss", got, err)
	}
	if err := a.PutHistory(ctx, hist); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetHistory(ctx, latest)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = utc(got[i])
	}
	if !reflect.DeepEqual(got, hist) {
		t.Errorf("GetHistory =\n%+v\nwant\n%+v", got, hist)
	}
	if len(got) > 0 {
		got[0].Description = "changed by a caller"
		if again, _ := b.GetHistory(ctx, latest); len(again) == 0 || again[0].Description != latest.Description {
			t.Errorf("a caller's change of its copy reached the store: %+v", again)
		}
	}
	pending := latest
	pending.Status = release.StatusPendingUpgrade
	newer := summary("east", "web", "shop", 4, release.StatusDeployed)
	reinstalled := latest
	reinstalled.Updated = latest.Updated.Add(time.Second)
	for what, s := range map[string]release.Summary{"another status of the newest revision": pending, "a newer revision": newer, "another Updated": reinstalled} {
		if got, err := b.GetHistory(ctx, s); got != nil || err != nil {
			t.Errorf("GetHistory with %s = %+v, %v; want a miss", what, got, err)
		}
	}
	if err := a.PutHistory(ctx, nil); err != nil {
		t.Errorf("PutHistory(nil) = %v, want nil", err)
	}
}
