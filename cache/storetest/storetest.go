// Package storetest is the conformance suite every cache.Backend passes:
// run it from the implementation's tests with a constructor of fresh,
// isolated backends.
package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/release"
)

// Run runs the suite. newBackend returns a backend that shares nothing with
// the ones it returned before, except for the two returned by a pair call
// (newBackend(t) twice within one subtest with the same t) which must share
// their data, as two replicas sharing one Redis do.
func Run(t *testing.T, newBackend func(t *testing.T) (a, b cache.Backend)) {
	t.Run("empty", func(t *testing.T) {
		a, _ := newBackend(t)
		snap, err := a.Snapshot(t.Context(), []string{"east"})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap) != 0 {
			t.Errorf("Snapshot of an empty store = %+v, want no clusters", snap)
		}
		if err := a.Ping(t.Context()); err != nil {
			t.Errorf("Ping() = %v", err)
		}
	})
	t.Run("replace put delete", func(t *testing.T) {
		a, b := newBackend(t)
		ctx := t.Context()
		now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
		st := cache.SyncState{Synced: true, LastSync: now, Holder: "replica-1"}
		rels := []release.Summary{summary("east", "web", "shop", 3, release.StatusDeployed), summary("east", "data", "cache", 1, release.StatusFailed)}
		if err := a.Replace(ctx, "east", rels, st); err != nil {
			t.Fatal(err)
		}
		if err := a.Replace(ctx, "west", nil, cache.SyncState{Synced: true, LastSync: now}); err != nil {
			t.Fatal(err)
		}
		want := []release.Summary{rels[1], rels[0]} // by namespace, name
		check(t, b, "east", st, want)
		check(t, b, "west", cache.SyncState{Synced: true, LastSync: now}, nil)

		up := summary("east", "web", "shop", 4, release.StatusPendingUpgrade)
		if err := a.Put(ctx, up); err != nil {
			t.Fatal(err)
		}
		added := summary("east", "web", "api", 1, release.StatusDeployed)
		if err := a.Put(ctx, added); err != nil {
			t.Fatal(err)
		}
		check(t, b, "east", st, []release.Summary{rels[1], added, up})
		if err := a.Delete(ctx, rels[1].Ref); err != nil {
			t.Fatal(err)
		}
		check(t, b, "east", st, []release.Summary{added, up})

		failing := cache.SyncState{Synced: true, LastSync: now, LastError: "watch: connection refused", Holder: "replica-1"}
		if err := a.SetState(ctx, "east", failing); err != nil {
			t.Fatal(err)
		}
		check(t, b, "east", failing, []release.Summary{added, up})

		// Replace drops what the new list no longer has.
		if err := a.Replace(ctx, "east", []release.Summary{up}, st); err != nil {
			t.Fatal(err)
		}
		check(t, b, "east", st, []release.Summary{up})
		check(t, a, "east", st, []release.Summary{up})
	})
	t.Run("events reach every subscriber", func(t *testing.T) {
		a, b := newBackend(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		subA, err := a.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		subB, err := b.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ev := cache.Event{Type: cache.Modified, Release: summary("east", "web", "shop", 4, release.StatusDeployed),
			PreviousStatus: release.StatusPendingUpgrade, PreviousRevision: 4, ObservedAt: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
		if err := a.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		for name, sub := range map[string]<-chan cache.Event{"a": subA, "b": subB} {
			got := receive(t, sub)
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("subscriber %s got %+v, want %+v", name, got, ev)
			}
		}
		cancel()
		for range subA { // closed once ctx ends
		}
	})
	t.Run("records are shared and deletable", func(t *testing.T) {
		a, b := newBackend(t)
		ctx := t.Context()
		if err := a.SaveRecord(ctx, "repositories", "stable", []byte{0, 1, 2, 255}); err != nil {
			t.Fatal(err)
		}
		a.SaveRecord(ctx, "repositories", "extra", []byte("x"))
		a.SaveRecord(ctx, "other-kind", "stable", []byte("y"))
		got, err := b.LoadRecords(ctx, "repositories")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || string(got["stable"]) != "\x00\x01\x02\xff" || string(got["extra"]) != "x" {
			t.Errorf("LoadRecords(repositories) on the other replica = %q, want stable and extra", got)
		}
		if err := b.DeleteRecord(ctx, "repositories", "stable"); err != nil {
			t.Fatal(err)
		}
		got, _ = a.LoadRecords(ctx, "repositories")
		if _, ok := got["stable"]; ok || len(got) != 1 {
			t.Errorf("after DeleteRecord: %q, want only extra", got)
		}
		if other, _ := a.LoadRecords(ctx, "other-kind"); string(other["stable"]) != "y" {
			t.Errorf("kinds are not separate: %q", other)
		}
	})
	t.Run("details", func(t *testing.T) { details(t, newBackend) })
	t.Run("histories", func(t *testing.T) { histories(t, newBackend) })
	t.Run("leases", func(t *testing.T) {
		a, b := newBackend(t)
		ctx := t.Context()
		const ttl = 300 * time.Millisecond
		acquire := func(be cache.Backend, holder string, want bool) {
			t.Helper()
			got, err := be.Acquire(ctx, "cluster-east", holder, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Acquire(cluster-east, %s) = %v, want %v", holder, got, want)
			}
		}
		acquire(a, "one", true)
		acquire(b, "two", false)
		acquire(a, "one", true) // renew
		acquire(b, "two", false)
		if err := b.Release(ctx, "cluster-east", "two"); err != nil { // not the holder: no effect
			t.Fatal(err)
		}
		acquire(b, "two", false)
		if err := a.Release(ctx, "cluster-east", "one"); err != nil {
			t.Fatal(err)
		}
		acquire(b, "two", true)
		// The holder stops renewing: once the lease expires, another takes it.
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok, err := a.Acquire(ctx, "cluster-east", "one", ttl)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("lease of holder two never expired")
			}
			time.Sleep(50 * time.Millisecond)
		}
		acquire(b, "two", false)
		acquire(a, "other-lease-holder", false)
		got, err := a.Acquire(ctx, "cluster-west", "two", ttl)
		if err != nil || !got {
			t.Errorf("Acquire(cluster-west, two) = %v, %v; want true: leases are independent", got, err)
		}
	})
}

func summary(cluster, ns, name string, rev int, st release.Status) release.Summary {
	return release.Summary{
		Ref: release.Ref{Cluster: cluster, Namespace: ns, Name: name}, Revision: rev, Status: st,
		RawStatus: string(st), Chart: release.Chart{Name: "webapp", Version: "1.0.0", AppVersion: "6.5"},
		Updated: time.Date(2026, 11, 24, 10, rev, 0, 0, time.UTC), Description: "Upgrade complete", Driver: release.DriverHelm,
	}
}

func check(t *testing.T, be cache.Backend, cluster string, wantState cache.SyncState, want []release.Summary) {
	t.Helper()
	snaps, err := be.Snapshot(t.Context(), []string{cluster, "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snaps["unknown"]; ok {
		t.Errorf("Snapshot has cluster %q, which was never stored", "unknown")
	}
	snap, ok := snaps[cluster]
	if !ok {
		t.Fatalf("Snapshot has no cluster %q", cluster)
	}
	if !snap.State.LastSync.Equal(wantState.LastSync) {
		t.Errorf("state.LastSync = %v, want %v", snap.State.LastSync, wantState.LastSync)
	}
	snap.State.LastSync = wantState.LastSync
	if snap.State != wantState {
		t.Errorf("state of %s = %+v, want %+v", cluster, snap.State, wantState)
	}
	got := slices.Clone(snap.Releases)
	for i := range got {
		got[i].Updated = got[i].Updated.UTC() // same instant; a decoder may pick another location
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Errorf("releases of %s =\n%+v\nwant\n%+v", cluster, got, want)
	}
}

func receive(t *testing.T, ch <-chan cache.Event) cache.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed before the event arrived")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return cache.Event{}
}
