package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/release"
)

// ReadsFixture is what a driver must read back from a cluster seeded with
// the shared fixture (localcluster.SeedTiller for Helm v2; the helm driver
// tests install the same releases with the Helm SDK): shop/frontend
// upgraded to revision 2, shop/api whose upgrade failed, store/cache, and
// cron/nightly uninstalled with its history kept.
type ReadsFixture struct {
	Cluster string
	Kind    release.DriverKind
	// Raw is the driver's own word for a status ("deployed" in Helm 3/4,
	// "DEPLOYED" in Helm 2, "DELETED" for Helm 2's uninstalled).
	Raw func(release.Status) string
}

// V2Fixture is the fixture as Helm v2 (tiller, swift) reports it.
func V2Fixture(cluster string, kind release.DriverKind) ReadsFixture {
	return ReadsFixture{Cluster: cluster, Kind: kind, Raw: func(s release.Status) string {
		if s == release.StatusUninstalled {
			return "DELETED"
		}
		return string(s)
	}}
}

// HelmFixture is the fixture as Helm 3/4 reports it.
func HelmFixture(cluster string) ReadsFixture {
	return ReadsFixture{Cluster: cluster, Kind: release.DriverHelm, Raw: func(s release.Status) string {
		return strings.ToLower(strings.ReplaceAll(string(s), "_", "-"))
	}}
}

// Brief is the part of a Summary the driver tests compare exactly.
type Brief struct {
	Ref       string
	Revision  int
	Status    release.Status
	RawStatus string
	Chart     release.Chart
}

// Briefs cuts summaries to what the driver tests compare.
func Briefs(ss []release.Summary) []Brief {
	out := make([]Brief, len(ss))
	for i, s := range ss {
		out[i] = Brief{s.Ref.String(), s.Revision, s.Status, s.RawStatus, s.Chart}
	}
	return out
}

// Ctx is a context for one driver call of a test: 30 s, ended with the test.
func Ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// DriverReads is the conformance suite of reads every driver passes on the
// shared fixture: the same calls, the same expectations, so that helm,
// tiller and swift clusters behave alike in the graph.
func DriverReads(t *testing.T, d clusters.Driver, f ReadsFixture) {
	var (
		webapp = release.Chart{Name: "webapp", Version: "1.4.0", AppVersion: "6.5.0"}
		cache  = release.Chart{Name: "cache", Version: "0.9.2", AppVersion: "7.2.4"}
		jobs   = release.Chart{Name: "jobs", Version: "2.1.0", AppVersion: "1.0.3"}
		b      = func(ns, name string, rev int, st release.Status, ch release.Chart) Brief {
			return Brief{f.Cluster + "/" + ns + "/" + name, rev, st, f.Raw(st), ch}
		}
		frontendLatest = b("shop", "frontend", 2, release.StatusDeployed, webapp)
		frontendFirst  = b("shop", "frontend", 1, release.StatusSuperseded, webapp)
		apiLatest      = b("shop", "api", 2, release.StatusFailed, webapp)
		cacheLatest    = b("store", "cache", 1, release.StatusDeployed, cache)
		nightlyLatest  = b("cron", "nightly", 1, release.StatusUninstalled, jobs)
		ref            = func(ns, name string) release.Ref { return release.Ref{Cluster: f.Cluster, Namespace: ns, Name: name} }
	)
	if d.Kind() != f.Kind {
		t.Errorf("Kind() = %s, want %s", d.Kind(), f.Kind)
	}

	t.Run("List", func(t *testing.T) {
		tests := []struct {
			name       string
			namespaces []string
			want       []Brief
		}{
			{"all namespaces", nil, []Brief{nightlyLatest, apiLatest, frontendLatest, cacheLatest}},
			{"one namespace", []string{"shop"}, []Brief{apiLatest, frontendLatest}},
			{"two namespaces, one twice", []string{"store", "cron", "store"}, []Brief{nightlyLatest, cacheLatest}},
			{"namespace without releases", []string{"kube-system"}, []Brief{}},
			{"namespace that does not exist", []string{"nowhere"}, []Brief{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := d.List(Ctx(t), tt.namespaces)
				if err != nil {
					t.Fatalf("List(%v) error = %v", tt.namespaces, err)
				}
				if !reflect.DeepEqual(Briefs(got), tt.want) {
					t.Errorf("List(%v) =\n%+v\nwant\n%+v", tt.namespaces, Briefs(got), tt.want)
				}
				for _, s := range got {
					if s.Driver != f.Kind || s.Updated.IsZero() || s.Description == "" {
						t.Errorf("List: %s: driver %q, updated %v, description %q; want %s, a time, a description", s.Ref, s.Driver, s.Updated, s.Description, f.Kind)
					}
				}
			})
		}
	})

	t.Run("Get", func(t *testing.T) {
		tests := []struct {
			name     string
			ref      release.Ref
			revision int
			want     Brief
			values   map[string]any
			computed map[string]any // a subset the computed values must contain
			manifest []string
			notes    string
		}{
			{
				name: "latest", ref: ref("shop", "frontend"), want: frontendLatest,
				values:   map[string]any{"message": "v2", "replicaCount": float64(2)},
				computed: map[string]any{"message": "v2", "replicaCount": float64(2), "breakMe": false, "service": map[string]any{"type": "ClusterIP", "port": float64(80)}},
				manifest: []string{"kind: Deployment", "replicas: 2", `MESSAGE: "v2"`},
				notes:    `frontend serves "v2" on port 80.`,
			},
			{
				name: "older revision", ref: ref("shop", "frontend"), revision: 1, want: frontendFirst,
				values:   map[string]any{"message": "v1"},
				computed: map[string]any{"message": "v1", "replicaCount": float64(1)},
				manifest: []string{"replicas: 1", `MESSAGE: "v1"`},
				notes:    `frontend serves "v1" on port 80.`,
			},
			{
				name: "failed upgrade", ref: ref("shop", "api"), want: apiLatest,
				values:   map[string]any{"breakMe": true},
				computed: map[string]any{"breakMe": true, "message": "hello from helmgraph", "service": map[string]any{"type": "ClusterIP", "port": float64(80)}},
				manifest: []string{"Bad_Name"},
			},
			{
				name: "uninstalled, history kept", ref: ref("cron", "nightly"), want: nightlyLatest,
				values:   map[string]any{"schedule": "0 2 * * *"},
				computed: map[string]any{"schedule": "0 2 * * *", "suspend": false},
				manifest: []string{"kind: CronJob"},
			},
			{
				name: "no user values", ref: ref("store", "cache"), want: cacheLatest,
				values:   map[string]any{},
				computed: map[string]any{"replicas": float64(1), "port": float64(6379)},
				manifest: []string{"kind: StatefulSet"},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := d.Get(Ctx(t), tt.ref, tt.revision)
				if err != nil {
					t.Fatalf("Get(%s, %d) error = %v", tt.ref, tt.revision, err)
				}
				if b := Briefs([]release.Summary{got.Summary})[0]; b != tt.want {
					t.Errorf("Get summary = %+v, want %+v", b, tt.want)
				}
				if v := asJSON(t, got.Values); !reflect.DeepEqual(v, tt.values) {
					t.Errorf("Values = %#v, want %#v", v, tt.values)
				}
				cv, _ := asJSON(t, got.ComputedValues).(map[string]any)
				for k, want := range tt.computed {
					if !reflect.DeepEqual(cv[k], want) {
						t.Errorf("ComputedValues[%q] = %#v, want %#v", k, cv[k], want)
					}
				}
				for _, s := range tt.manifest {
					if !strings.Contains(got.Manifest, s) {
						t.Errorf("Manifest lacks %q:\n%s", s, got.Manifest)
					}
				}
				if tt.notes != "" && !strings.Contains(got.Notes, tt.notes) {
					t.Errorf("Notes = %q, want it to contain %q", got.Notes, tt.notes)
				}
				if len(got.Resources()) == 0 {
					t.Errorf("Resources() is empty; manifest:\n%s", got.Manifest)
				}
			})
		}
	})

	t.Run("History", func(t *testing.T) {
		got, err := d.History(Ctx(t), ref("shop", "frontend"))
		if err != nil {
			t.Fatalf("History error = %v", err)
		}
		if want := []Brief{frontendLatest, frontendFirst}; !reflect.DeepEqual(Briefs(got), want) {
			t.Errorf("History = %+v, want %+v", Briefs(got), want)
		}
		got, err = d.History(Ctx(t), ref("cron", "nightly"))
		if err != nil || !reflect.DeepEqual(Briefs(got), []Brief{nightlyLatest}) {
			t.Errorf("History(nightly) = %+v, %v; want %+v", Briefs(got), err, nightlyLatest)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		ctx := Ctx(t)
		missing := ref("shop", "nope")
		otherNS := ref("store", "frontend")
		for name, call := range map[string]func() error{
			"get missing":                  func() error { _, err := d.Get(ctx, missing, 0); return err },
			"get missing revision":         func() error { _, err := d.Get(ctx, ref("shop", "frontend"), 9); return err },
			"get in another namespace":     func() error { _, err := d.Get(ctx, otherNS, 0); return err },
			"history missing":              func() error { _, err := d.History(ctx, missing); return err },
			"history in another namespace": func() error { _, err := d.History(ctx, otherNS); return err },
		} {
			if err := call(); !errors.Is(err, release.ErrNotFound) {
				t.Errorf("%s: error = %v, want ErrNotFound", name, err)
			} else if !strings.Contains(err.Error(), f.Cluster) {
				t.Errorf("%s: error = %v, want it to name cluster %q", name, err, f.Cluster)
			}
		}
		for name, call := range map[string]func() error{
			"invalid name":      func() error { _, err := d.Get(ctx, ref("shop", "Not/A name"), 0); return err },
			"negative revision": func() error { _, err := d.Get(ctx, missing, -1); return err },
			"no namespace":      func() error { _, err := d.History(ctx, ref("", "x")); return err },
		} {
			if err := call(); !errors.Is(err, release.ErrInvalidArgument) {
				t.Errorf("%s: error = %v, want ErrInvalidArgument", name, err)
			}
		}
	})
}

// asJSON round-trips v through JSON, as the graph serves values, so that
// YAML-decoded ints and JSON-decoded float64s compare equal.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("values do not marshal to JSON: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
