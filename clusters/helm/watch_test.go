package helm_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/release"
)

// recorder is a release.Sink that hands every call to the test.
type recorder struct{ ops chan op }

type op struct {
	kind string // replace, upsert, delete
	rels []release.Summary
	ref  release.Ref
}

func (r *recorder) Replace(ctx context.Context, rels []release.Summary) error {
	r.ops <- op{kind: "replace", rels: rels}
	return nil
}

func (r *recorder) Upsert(ctx context.Context, s release.Summary) error {
	r.ops <- op{kind: "upsert", rels: []release.Summary{s}, ref: s.Ref}
	return nil
}

func (r *recorder) Delete(ctx context.Context, ref release.Ref) error {
	r.ops <- op{kind: "delete", ref: ref}
	return nil
}

func (r *recorder) next(t *testing.T) op {
	t.Helper()
	select {
	case o := <-r.ops:
		return o
	case <-time.After(60 * time.Second):
		t.Fatal("the watch reported nothing within 60s")
	}
	return op{}
}

// Watch reports the same releases as List, then each change of a release's
// latest revision (install, status change, uninstall) as it happens.
func TestWatch(t *testing.T) {
	rc := testCluster.RESTConfig()
	d := newDriver(t, rc, "secret")
	rec := &recorder{ops: make(chan op, 64)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Watch(ctx, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch() after cancel = %v, want nil", err)
		}
	}()

	first := rec.next(t)
	if first.kind != "replace" {
		t.Fatalf("first report = %s, want replace", first.kind)
	}
	listed, err := d.List(ctxFor(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := briefs(first.rels)
	slices.SortFunc(got, func(a, b brief) int { return compareStrings(a.Ref, b.Ref) })
	want := briefs(listed)
	slices.SortFunc(want, func(a, b brief) int { return compareStrings(a.Ref, b.Ref) })
	if !slices.Equal(got, want) {
		t.Errorf("Watch's first list =\n%+v\nList =\n%+v", got, want)
	}
	for _, w := range []brief{frontendLatest, apiLatest, cacheLatest, nightlyLatest} {
		if !slices.Contains(got, w) {
			t.Errorf("Watch's first list lacks %+v", w)
		}
	}

	ref := release.Ref{Cluster: clusterName, Namespace: "watched", Name: "fresh"}
	if err := localcluster.InstallRelease(ctxFor(t), rc, ref.Namespace, ref.Name, "jobs", nil); err != nil {
		t.Fatal(err)
	}
	var statuses []release.Status
	for !slices.Contains(statuses, release.StatusDeployed) {
		o := rec.next(t)
		if o.kind != "upsert" || o.ref != ref {
			continue // other tests' releases
		}
		s := o.rels[0]
		if s.Revision != 1 || s.Chart != jobs {
			t.Errorf("upsert of %s = revision %d chart %+v, want revision 1 of %+v", ref, s.Revision, s.Chart, jobs)
		}
		statuses = append(statuses, s.Status)
	}
	if statuses[0] != release.StatusPendingInstall && statuses[0] != release.StatusDeployed {
		t.Errorf("statuses reported for the install = %v, want pending-install then deployed", statuses)
	}

	if err := localcluster.UninstallRelease(ctxFor(t), rc, ref.Namespace, ref.Name, false); err != nil {
		t.Fatal(err)
	}
	for {
		o := rec.next(t)
		if o.ref != ref {
			continue
		}
		if o.kind == "delete" {
			break
		}
		// A status change goes out from the labels first; the decoded
		// payload then refines the summary (description, time).
		if st := o.rels[0].Status; o.kind != "upsert" || st != release.StatusUninstalling && st != release.StatusDeployed {
			t.Errorf("while uninstalling %s: %s %+v, want DEPLOYED (refined) or UNINSTALLING upserts, then the delete", ref, o.kind, o.rels)
		}
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
