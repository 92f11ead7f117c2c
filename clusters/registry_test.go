package clusters_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/release"
)

// fakeDriver answers from memory, or with err, or not at all (block: it
// waits for its context to end, as a driver does for a cluster that is down,
// though at most blockLimit).
type fakeDriver struct {
	releases []release.Summary
	version  string
	err      error
	block    bool

	mu         sync.Mutex
	calls      int
	namespaces [][]string // what List was asked for, call by call
}

var _ clusters.Driver = (*fakeDriver)(nil)

func (d *fakeDriver) Kind() release.DriverKind { return release.DriverHelm }

func (d *fakeDriver) answer(ctx context.Context) error {
	d.mu.Lock()
	d.calls++
	d.mu.Unlock()
	if d.block {
		select {
		case <-ctx.Done():
			return fmt.Errorf("dial tcp 10.0.0.1:6443: %w", ctx.Err())
		case <-time.After(blockLimit):
			// Without a deadline from the registry: end the test rather than hang it.
			return errors.New("fake driver: blocked for 5s without its context ending")
		}
	}
	return d.err
}

func (d *fakeDriver) List(ctx context.Context, namespaces []string) ([]release.Summary, error) {
	d.mu.Lock()
	d.namespaces = append(d.namespaces, namespaces)
	d.mu.Unlock()
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	var out []release.Summary
	for _, s := range d.releases {
		if len(namespaces) == 0 || slices.Contains(namespaces, s.Ref.Namespace) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (d *fakeDriver) Get(ctx context.Context, ref release.Ref, revision int) (*release.Release, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	for _, s := range d.releases {
		if s.Ref == ref && (revision == 0 || revision == s.Revision) {
			return &release.Release{Summary: s, Notes: "notes of " + ref.Name}, nil
		}
	}
	return nil, fmt.Errorf("%w: release %s revision %d", release.ErrNotFound, ref, revision)
}

func (d *fakeDriver) History(ctx context.Context, ref release.Ref) ([]release.Summary, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	for _, s := range d.releases {
		if s.Ref == ref {
			return []release.Summary{s}, nil
		}
	}
	return nil, fmt.Errorf("%w: release %s", release.ErrNotFound, ref)
}

func (d *fakeDriver) Version(ctx context.Context) (string, error) {
	if err := d.answer(ctx); err != nil {
		return "", err
	}
	return d.version, nil
}

func (d *fakeDriver) callCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

const (
	testTimeout = 200 * time.Millisecond
	blockLimit  = 5 * time.Second
)

func newCluster(name string, d *fakeDriver) *clusters.Cluster {
	return &clusters.Cluster{
		Config: clusters.Config{Name: name, Driver: "helm", Timeout: clusters.Duration(testTimeout)},
		Driver: d,
		Log:    slog.New(slog.DiscardHandler),
	}
}

// fakeFleet is three clusters: east and west answer, down does not.
func fakeFleet() (reg *clusters.Registry, east, west, down *fakeDriver) {
	east = &fakeDriver{version: "v1.34.1", releases: []release.Summary{
		sum("east", "shop", "frontend", t0),
		sum("east", "shop", "api", t0),
		sum("east", "db", "redis", t0),
	}}
	west = &fakeDriver{version: "v1.33.0", releases: []release.Summary{
		sum("west", "shop", "frontend", t0),
	}}
	down = &fakeDriver{block: true}
	reg = clusters.NewRegistry([]*clusters.Cluster{newCluster("east", east), newCluster("down", down), newCluster("west", west)})
	return reg, east, west, down
}

func sorted(ss []string) []string { slices.Sort(ss); return ss }

func TestRegistryList(t *testing.T) {
	east, west := fakeFleet2()
	reg := clusters.NewRegistry([]*clusters.Cluster{newCluster("east", east), newCluster("west", west)})
	tests := []struct {
		name       string
		clusters   []string
		namespaces []string
		want       []string
	}{
		{"every cluster", nil, nil, []string{"east/db/redis", "east/shop/api", "east/shop/frontend", "west/shop/frontend"}},
		{"one cluster", []string{"west"}, nil, []string{"west/shop/frontend"}},
		{"both clusters by name", []string{"west", "east"}, nil, []string{"east/db/redis", "east/shop/api", "east/shop/frontend", "west/shop/frontend"}},
		{"namespaces are passed to the drivers", nil, []string{"db"}, []string{"east/db/redis"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cerrs := reg.List(t.Context(), tt.clusters, tt.namespaces)
			if len(cerrs) != 0 {
				t.Errorf("List() cluster errors = %+v, want none", cerrs)
			}
			if got := sorted(refs(got)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("List(%q, %q) = %q, want %q", tt.clusters, tt.namespaces, got, tt.want)
			}
		})
	}
	if got, want := east.namespaces[len(east.namespaces)-1], []string{"db"}; !reflect.DeepEqual(got, want) {
		t.Errorf("east driver was asked for namespaces %q, want %q", got, want)
	}
}

func fakeFleet2() (east, west *fakeDriver) {
	_, east, west, _ = fakeFleet()
	return east, west
}

func TestRegistryListClusterErrors(t *testing.T) {
	tests := []struct {
		name     string
		driver   *fakeDriver
		wantCode string
		wantIs   error
		wantMsg  []string
	}{
		{"blocks until its context ends", &fakeDriver{block: true}, "CLUSTER_UNAVAILABLE", release.ErrClusterUnavailable, []string{`"bad"`, "200ms"}},
		{"plain error", &fakeDriver{err: errors.New("x509: certificate signed by unknown authority")}, "CLUSTER_UNAVAILABLE", release.ErrClusterUnavailable, []string{`"bad"`, "x509: certificate signed by unknown authority"}},
		{"already unavailable", &fakeDriver{err: fmt.Errorf("%w: 503 from API server", release.ErrClusterUnavailable)}, "CLUSTER_UNAVAILABLE", release.ErrClusterUnavailable, []string{"503 from API server"}},
		{"forbidden stays forbidden", &fakeDriver{err: fmt.Errorf("%w: secrets is forbidden", release.ErrForbidden)}, "FORBIDDEN", release.ErrForbidden, []string{"secrets is forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			east, _ := fakeFleet2()
			reg := clusters.NewRegistry([]*clusters.Cluster{newCluster("east", east), newCluster("bad", tt.driver)})
			start := time.Now()
			got, cerrs := reg.List(t.Context(), nil, nil)
			elapsed := time.Since(start)
			// A generous margin for a loaded machine, but far below forever
			// and below the 10s default timeout.
			if elapsed > testTimeout+2*time.Second {
				t.Errorf("List() took %s, want about the cluster's timeout %s at most", elapsed, testTimeout)
			}
			if got, want := sorted(refs(got)), []string{"east/db/redis", "east/shop/api", "east/shop/frontend"}; !reflect.DeepEqual(got, want) {
				t.Errorf("List() = %q, want the answering cluster's releases %q", got, want)
			}
			if len(cerrs) != 1 {
				t.Fatalf("List() cluster errors = %+v, want one for cluster bad", cerrs)
			}
			ce := cerrs[0]
			if ce.Cluster != "bad" || ce.Code != tt.wantCode {
				t.Errorf("ClusterError = {Cluster: %q, Code: %q}, want {Cluster: %q, Code: %q}", ce.Cluster, ce.Code, "bad", tt.wantCode)
			}
			if !errors.Is(ce.Err, tt.wantIs) {
				t.Errorf("ClusterError.Err = %v, want it to wrap %v", ce.Err, tt.wantIs)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(ce.Message, w) {
					t.Errorf("ClusterError.Message = %q, want it to contain %q", ce.Message, w)
				}
			}
		})
	}
}

// A cluster that does not answer is given up on after its own timeout, while
// the other clusters are asked in parallel, not after it.
func TestRegistryListTimeoutIsPerCluster(t *testing.T) {
	reg, _, _, down := fakeFleet()
	start := time.Now()
	got, cerrs := reg.List(t.Context(), nil, nil)
	elapsed := time.Since(start)
	if elapsed < testTimeout {
		t.Errorf("List() returned after %s, before the blocking cluster's timeout %s", elapsed, testTimeout)
	}
	if elapsed > testTimeout+2*time.Second {
		t.Errorf("List() took %s, want about %s", elapsed, testTimeout)
	}
	if got, want := len(got), 4; got != want {
		t.Errorf("List() = %d releases, want %d", got, want)
	}
	if len(cerrs) != 1 || cerrs[0].Cluster != "down" || cerrs[0].Code != "CLUSTER_UNAVAILABLE" {
		t.Errorf("List() cluster errors = %+v, want one CLUSTER_UNAVAILABLE for down", cerrs)
	}
	if got := down.callCount(); got != 1 {
		t.Errorf("blocking driver called %d times, want 1", got)
	}
}

// Clusters are asked in parallel: ten clusters that each use up their
// timeout cost one timeout, not ten.
func TestRegistryListIsParallel(t *testing.T) {
	var cs []*clusters.Cluster
	for i := range 10 {
		cs = append(cs, newCluster(fmt.Sprintf("down-%d", i), &fakeDriver{block: true}))
	}
	reg := clusters.NewRegistry(cs)
	start := time.Now()
	_, cerrs := reg.List(t.Context(), nil, nil)
	if elapsed, limit := time.Since(start), 5*testTimeout; elapsed > limit {
		t.Errorf("List() of 10 blocking clusters took %s, want under %s (one %s timeout, in parallel)", elapsed, limit, testTimeout)
	}
	if got, want := len(cerrs), 10; got != want {
		t.Errorf("List() = %d cluster errors, want %d", got, want)
	}
}

func TestRegistryGetAndHistory(t *testing.T) {
	reg, _, _, _ := fakeFleet()
	frontend := release.Ref{Cluster: "east", Namespace: "shop", Name: "frontend"}
	tests := []struct {
		name    string
		ref     release.Ref
		wantIs  error // nil: found
		wantMsg string
	}{
		{"found", frontend, nil, ""},
		{"release not found passes through", release.Ref{Cluster: "east", Namespace: "shop", Name: "nope"}, release.ErrNotFound, "east/shop/nope"},
		{"cluster not configured", release.Ref{Cluster: "north", Namespace: "shop", Name: "frontend"}, release.ErrNotFound, `"north"`},
		{"cluster down", release.Ref{Cluster: "down", Namespace: "shop", Name: "frontend"}, release.ErrClusterUnavailable, `"down"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := reg.Get(t.Context(), tt.ref, 0)
			hist, herr := reg.History(t.Context(), tt.ref)
			if tt.wantIs == nil {
				if err != nil || herr != nil {
					t.Fatalf("Get(), History() errors = %v, %v; want nil", err, herr)
				}
				if rel.Ref != tt.ref || rel.Notes != "notes of frontend" {
					t.Errorf("Get() = %s with notes %q, want %s with its notes", rel.Ref, rel.Notes, tt.ref)
				}
				if len(hist) != 1 || hist[0].Ref != tt.ref {
					t.Errorf("History() = %q, want [%s]", refs(hist), tt.ref)
				}
				return
			}
			for call, err := range map[string]error{"Get": err, "History": herr} {
				if !errors.Is(err, tt.wantIs) {
					t.Errorf("%s() error = %v, want %v", call, err, tt.wantIs)
				}
				if tt.wantIs == release.ErrNotFound && errors.Is(err, release.ErrClusterUnavailable) {
					t.Errorf("%s() error = %v, want NOT_FOUND only, not CLUSTER_UNAVAILABLE", call, err)
				}
				if got, want := release.ErrorCode(err), release.ErrorCode(tt.wantIs); got != want {
					t.Errorf("%s() error code = %s, want %s", call, got, want)
				}
				if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("%s() error = %q, want it to name %s", call, err, tt.wantMsg)
				}
			}
		})
	}
}

func TestRegistryStatuses(t *testing.T) {
	reg, _, _, _ := fakeFleet()
	start := time.Now()
	sts := reg.Statuses(t.Context())
	if got, want := statusNames(sts), []string{"east", "down", "west"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Statuses() names = %q, want %q (configuration order)", got, want)
	}
	type view struct {
		Reachable     bool
		ServerVersion string
		ReleaseCount  int
		HasLastError  bool
	}
	want := map[string]view{
		"east": {Reachable: true, ServerVersion: "v1.34.1", ReleaseCount: 3},
		"down": {HasLastError: true},
		"west": {Reachable: true, ServerVersion: "v1.33.0", ReleaseCount: 1},
	}
	for _, st := range sts {
		got := view{Reachable: st.Reachable, HasLastError: st.LastError != nil}
		if st.ServerVersion != nil {
			got.ServerVersion = *st.ServerVersion
		}
		if st.ReleaseCount != nil {
			got.ReleaseCount = *st.ReleaseCount
		}
		if got != want[st.Name] {
			t.Errorf("Statuses()[%s] = %+v, want %+v", st.Name, got, want[st.Name])
		}
		if st.Driver != release.DriverHelm {
			t.Errorf("Statuses()[%s].Driver = %q, want %q", st.Name, st.Driver, release.DriverHelm)
		}
		if st.CheckedAt.Before(start) || st.CheckedAt.After(time.Now()) {
			t.Errorf("Statuses()[%s].CheckedAt = %v, want during the call", st.Name, st.CheckedAt)
		}
		if !st.Reachable && (st.ServerVersion != nil || st.ReleaseCount != nil) {
			t.Errorf("Statuses()[%s]: unreachable but serverVersion/releaseCount set", st.Name)
		}
		if st.LastError != nil && !strings.Contains(*st.LastError, `"down"`) {
			t.Errorf("Statuses()[%s].LastError = %q, want it to name the cluster", st.Name, *st.LastError)
		}
	}

	one := reg.Statuses(t.Context(), "west")
	if got, want := statusNames(one), []string{"west"}; !reflect.DeepEqual(got, want) {
		t.Errorf(`Statuses("west") names = %q, want %q`, got, want)
	}
}

func TestRegistryStatusesVersionError(t *testing.T) {
	d := &fakeDriver{err: errors.New("connection refused")}
	reg := clusters.NewRegistry([]*clusters.Cluster{newCluster("east", d)})
	st := reg.Statuses(t.Context())[0]
	if st.Reachable || st.LastError == nil || !strings.Contains(*st.LastError, "connection refused") {
		t.Errorf("Statuses() = {Reachable: %v, LastError: %v}, want unreachable with the driver's error", st.Reachable, st.LastError)
	}
}

func statusNames(sts []clusters.Status) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.Name
	}
	return out
}

func TestRegistryNamesAndCluster(t *testing.T) {
	reg, _, _, _ := fakeFleet()
	if got, want := reg.Names(), []string{"east", "down", "west"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if c, err := reg.Cluster("west"); err != nil || c.Config.Name != "west" {
		t.Errorf(`Cluster("west") = %v, %v; want west`, c, err)
	}
	if _, err := reg.Cluster("north"); !errors.Is(err, release.ErrNotFound) {
		t.Errorf(`Cluster("north") error = %v, want ErrNotFound`, err)
	}
}

func TestRegistryReleases(t *testing.T) {
	t.Run("filters, pages and reports unavailable clusters", func(t *testing.T) {
		reg, _, _, _ := fakeFleet()
		p, cerrs, err := reg.Releases(t.Context(), clusters.Filter{NameContains: "FRONT"}, clusters.PageRequest{First: ptr(1)})
		if err != nil {
			t.Fatalf("Releases() error = %v", err)
		}
		if got, want := refs(p.Items), []string{"east/shop/frontend"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Releases() items = %q, want %q", got, want)
		}
		if p.TotalCount != 2 || !p.HasNextPage {
			t.Errorf("Releases() TotalCount, HasNextPage = %d, %v; want 2, true", p.TotalCount, p.HasNextPage)
		}
		if len(cerrs) != 1 || cerrs[0].Cluster != "down" {
			t.Errorf("Releases() cluster errors = %+v, want one for down", cerrs)
		}
	})
	t.Run("only the filtered clusters are asked", func(t *testing.T) {
		reg, east, west, down := fakeFleet()
		_, cerrs, err := reg.Releases(t.Context(), clusters.Filter{Clusters: []string{"west"}}, clusters.PageRequest{})
		if err != nil || len(cerrs) != 0 {
			t.Fatalf("Releases() = %+v, %v; want no errors", cerrs, err)
		}
		if got := [3]int{east.callCount(), west.callCount(), down.callCount()}; got != [3]int{0, 1, 0} {
			t.Errorf("calls to east, west, down = %v, want [0 1 0]", got)
		}
	})
	invalid := []struct {
		name   string
		filter clusters.Filter
		req    clusters.PageRequest
		want   string
	}{
		{"unknown cluster", clusters.Filter{Clusters: []string{"north"}}, clusters.PageRequest{}, "filter.clusters"},
		{"invalid namespace", clusters.Filter{Namespaces: []string{"Shop"}}, clusters.PageRequest{}, "filter.namespaces"},
		{"first too large", clusters.Filter{}, clusters.PageRequest{First: ptr(1000)}, "first"},
		{"malformed cursor", clusters.Filter{}, clusters.PageRequest{After: "nope"}, "after"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name+" fails before asking any cluster", func(t *testing.T) {
			reg, east, west, down := fakeFleet()
			_, _, err := reg.Releases(t.Context(), tt.filter, tt.req)
			if !errors.Is(err, release.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Releases() error = %v, want ErrInvalidArgument naming %q", err, tt.want)
			}
			if n := east.callCount() + west.callCount() + down.callCount(); n != 0 {
				t.Errorf("drivers were called %d times, want 0", n)
			}
		})
	}
}

func TestRegistryStatusesTransport(t *testing.T) {
	tests := []struct {
		cfg  clusters.Config
		want string
	}{
		{clusters.Config{Name: "h", Driver: "helm"}, "api-server"},
		{clusters.Config{Name: "t1", Driver: "tiller", Address: "127.0.0.1:44134"}, "direct"},
		{clusters.Config{Name: "t2", Driver: "tiller"}, "port-forward"},
		{clusters.Config{Name: "s1", Driver: "swift"}, "service-proxy"},
		{clusters.Config{Name: "s2", Driver: "swift", Transport: "direct", Address: "http://127.0.0.1:9855"}, "direct"},
	}
	for _, tt := range tests {
		c := newCluster(tt.cfg.Name, &fakeDriver{})
		c.Config = tt.cfg
		st := clusters.NewRegistry([]*clusters.Cluster{c}).Statuses(t.Context())
		if st[0].Transport != tt.want {
			t.Errorf("Statuses() for %+v: transport = %q, want %q", tt.cfg, st[0].Transport, tt.want)
		}
	}
}

// fakeDetails is a synced cache of one cluster's summaries that keeps
// decoded revisions and histories in maps, or fails with err.
type fakeDetails struct {
	cc  clusters.CachedCluster
	err error

	mu      sync.Mutex
	details map[string]*release.Release
	hists   map[string][]release.Summary
}

var _ clusters.DetailSource = (*fakeDetails)(nil)

func detailKey(ref release.Ref, rev int, updated time.Time) string {
	return fmt.Sprint(ref, rev, updated.UnixNano())
}

func histKey(s release.Summary) string {
	return fmt.Sprint(s.Ref, s.Revision, s.Status, s.Updated.UnixNano())
}

func (f *fakeDetails) Cached(ctx context.Context, names []string) (map[string]clusters.CachedCluster, error) {
	return map[string]clusters.CachedCluster{names[0]: f.cc}, nil
}

func (f *fakeDetails) Detail(ctx context.Context, ref release.Ref, rev int, updated time.Time) (*release.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.details[detailKey(ref, rev, updated)], f.err
}

func (f *fakeDetails) PutDetail(ctx context.Context, rel *release.Release) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.details[detailKey(rel.Ref, rel.Revision, rel.Updated)] = rel
	}
	return f.err
}

func (f *fakeDetails) History(ctx context.Context, latest release.Summary) ([]release.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hists[histKey(latest)], f.err
}

func (f *fakeDetails) PutHistory(ctx context.Context, hist []release.Summary) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.hists[histKey(hist[0])] = hist
	}
	return f.err
}

func (f *fakeDetails) stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.details) + len(f.hists)
}

// A synced cluster's revisions and histories are read from the cluster once,
// then from the detail cache; stale, impersonating and cache-less cases
// read the cluster every time, and a failing cache never fails a read.
func TestRegistryDetailCache(t *testing.T) {
	cur := sum("east", "shop", "frontend", t0)
	cur.Revision = 3
	tests := []struct {
		name        string
		stale       bool
		impersonate bool
		cacheErr    error
		wantCalls   int // driver calls for two rounds of Get, detail and History
		wantStored  bool
	}{
		{name: "synced", wantCalls: 2, wantStored: true},
		{name: "stale", stale: true, wantCalls: 6},
		{name: "impersonating: the cluster's RBAC decides per caller", impersonate: true, wantCalls: 6},
		{name: "cache failing", cacheErr: errors.New("redis: connection refused"), wantCalls: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDriver{releases: []release.Summary{cur}}
			c := newCluster("east", d)
			c.Config.Impersonate = tt.impersonate
			reg := clusters.NewRegistry([]*clusters.Cluster{c})
			src := &fakeDetails{cc: clusters.CachedCluster{Synced: true, Stale: tt.stale, Releases: []release.Summary{cur}, LastSync: time.Now()},
				err: tt.cacheErr, details: map[string]*release.Release{}, hists: map[string][]release.Summary{}}
			reg.SetSource(src)
			for round := range 2 {
				rel, err := reg.Get(t.Context(), cur.Ref, 0)
				if err != nil || rel.Notes != "notes of frontend" || rel.Revision != 3 {
					t.Fatalf("round %d: Get() = %+v, %v; want revision 3 with its notes", round, rel, err)
				}
				notes, err := reg.NewRelease(cur).Notes(t.Context())
				if err != nil || notes != "notes of frontend" {
					t.Fatalf("round %d: Notes() = %q, %v; want its notes", round, notes, err)
				}
				hist, err := reg.History(t.Context(), cur.Ref)
				if err != nil || len(hist) != 1 || hist[0] != cur {
					t.Fatalf("round %d: History() = %+v, %v; want [%+v]", round, hist, err, cur)
				}
			}
			if got := d.callCount(); got != tt.wantCalls {
				t.Errorf("driver calls = %d, want %d", got, tt.wantCalls)
			}
			if got := src.stored() > 0; got != tt.wantStored {
				t.Errorf("stored in the detail cache: %v, want %v", got, tt.wantStored)
			}
		})
	}
	t.Run("the answer has the cache's current status, not the stored payload's", func(t *testing.T) {
		d := &fakeDriver{releases: []release.Summary{cur}}
		reg := clusters.NewRegistry([]*clusters.Cluster{newCluster("east", d)})
		pending := cur
		pending.Status, pending.Description = release.StatusPendingUpgrade, "Preparing upgrade"
		src := &fakeDetails{cc: clusters.CachedCluster{Synced: true, Releases: []release.Summary{cur}, LastSync: time.Now()},
			details: map[string]*release.Release{detailKey(cur.Ref, 3, cur.Updated): {Summary: pending, Notes: "cached notes"}}, hists: map[string][]release.Summary{}}
		reg.SetSource(src)
		rel, err := reg.Get(t.Context(), cur.Ref, 0)
		if err != nil || rel.Notes != "cached notes" || rel.Status != release.StatusDeployed || rel.Description != cur.Description {
			t.Errorf("Get() = %+v, %v; want the cached notes with status DEPLOYED", rel, err)
		}
		if d.callCount() != 0 {
			t.Errorf("driver calls = %d, want 0", d.callCount())
		}
	})
	t.Run("another revision than the latest is read live", func(t *testing.T) {
		old := cur
		old.Revision = 2
		d := &fakeDriver{releases: []release.Summary{old}}
		reg := clusters.NewRegistry([]*clusters.Cluster{newCluster("east", d)})
		reg.SetSource(&fakeDetails{cc: clusters.CachedCluster{Synced: true, Releases: []release.Summary{cur}, LastSync: time.Now()},
			details: map[string]*release.Release{}, hists: map[string][]release.Summary{}})
		for range 2 {
			if rel, err := reg.Get(t.Context(), cur.Ref, 2); err != nil || rel.Revision != 2 {
				t.Fatalf("Get(revision 2) = %+v, %v", rel, err)
			}
		}
		if d.callCount() != 2 {
			t.Errorf("driver calls = %d, want 2: revision 2's Updated time is not known", d.callCount())
		}
	})
}
