package clusters_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/release"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func sum(cluster, namespace, name string, updated time.Time) release.Summary {
	return release.Summary{
		Ref:     release.Ref{Cluster: cluster, Namespace: namespace, Name: name},
		Updated: updated,
		Status:  release.StatusDeployed,
		Driver:  release.DriverHelm,
	}
}

// fleet has ties on name (frontend in three places) and on updated time
// (three releases at t0+1h), so the tie-breakers decide part of every order.
func fleet() []release.Summary {
	return []release.Summary{
		sum("east", "shop", "frontend", t0.Add(3*time.Hour)),
		sum("west", "shop", "frontend", t0.Add(time.Hour)),
		sum("east", "api", "frontend", t0.Add(time.Hour)),
		sum("east", "shop", "api", t0.Add(2*time.Hour)),
		sum("west", "db", "postgres", t0.Add(time.Hour)),
		sum("east", "db", "redis", t0),
	}
}

func refs(ss []release.Summary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Ref.String()
	}
	return out
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func ptr(n int) *int { return &n }

var (
	byNameAsc = []string{
		"east/shop/api",
		"east/api/frontend",
		"east/shop/frontend",
		"west/shop/frontend",
		"west/db/postgres",
		"east/db/redis",
	}
	byUpdatedAsc = []string{
		"east/db/redis",      // t0
		"east/api/frontend",  // t0+1h, name then namespace
		"west/shop/frontend", // t0+1h
		"west/db/postgres",   // t0+1h
		"east/shop/api",      // t0+2h
		"east/shop/frontend", // t0+3h
	}
	orders = []struct {
		name  string
		order clusters.Order
		want  []string
	}{
		{"NAME ASC", clusters.Order{Field: clusters.OrderByName}, byNameAsc},
		{"NAME DESC", clusters.Order{Field: clusters.OrderByName, Desc: true}, reversed(byNameAsc)},
		{"UPDATED ASC", clusters.Order{Field: clusters.OrderByUpdated}, byUpdatedAsc},
		{"UPDATED DESC", clusters.Order{Field: clusters.OrderByUpdated, Desc: true}, reversed(byUpdatedAsc)},
		{"default order is NAME ASC", clusters.Order{}, byNameAsc},
	}
)

func TestPaginateOrder(t *testing.T) {
	for _, tt := range orders {
		t.Run(tt.name, func(t *testing.T) {
			items := fleet()
			input := slices.Clone(items)
			p, err := clusters.Paginate(items, clusters.PageRequest{Order: tt.order})
			if err != nil {
				t.Fatalf("Paginate() error = %v", err)
			}
			if got := refs(p.Items); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Paginate() items =\n%q\nwant\n%q", got, tt.want)
			}
			if got, want := p.TotalCount, len(items); got != want {
				t.Errorf("TotalCount = %d, want %d", got, want)
			}
			if got, want := len(p.Cursors), len(p.Items); got != want {
				t.Errorf("len(Cursors) = %d, want %d (one per item)", got, want)
			}
			if p.HasNextPage || p.HasPreviousPage {
				t.Errorf("HasNextPage, HasPreviousPage = %v, %v; want false, false for the whole list", p.HasNextPage, p.HasPreviousPage)
			}
			if !reflect.DeepEqual(items, input) {
				t.Errorf("Paginate() reordered its input:\n%q\nwant\n%q", refs(items), refs(input))
			}
		})
	}
}

// walkForward pages with first/after until hasNextPage is false.
func walkForward(t *testing.T, items []release.Summary, order clusters.Order, size int) []string {
	t.Helper()
	var got []string
	after := ""
	for page := 0; ; page++ {
		if page > len(items)+1 {
			t.Fatalf("walking forward with first=%d did not end after %d pages; got so far %q", size, page, got)
		}
		p, err := clusters.Paginate(items, clusters.PageRequest{First: ptr(size), After: after, Order: order})
		if err != nil {
			t.Fatalf("page %d: Paginate(first=%d, after=%q) error = %v", page, size, after, err)
		}
		if got, want := p.HasPreviousPage, page > 0; got != want {
			t.Errorf("page %d: HasPreviousPage = %v, want %v", page, got, want)
		}
		if len(p.Items) > size {
			t.Errorf("page %d: %d items, want at most %d", page, len(p.Items), size)
		}
		got = append(got, refs(p.Items)...)
		if !p.HasNextPage {
			return got
		}
		if len(p.Cursors) == 0 {
			t.Fatalf("page %d: HasNextPage but no items", page)
		}
		after = p.Cursors[len(p.Cursors)-1]
	}
}

// walkBackward pages with last/before until hasPreviousPage is false.
func walkBackward(t *testing.T, items []release.Summary, order clusters.Order, size int) []string {
	t.Helper()
	var got []string
	before := ""
	for page := 0; ; page++ {
		if page > len(items)+1 {
			t.Fatalf("walking backward with last=%d did not end after %d pages; got so far %q", size, page, got)
		}
		p, err := clusters.Paginate(items, clusters.PageRequest{Last: ptr(size), Before: before, Order: order})
		if err != nil {
			t.Fatalf("page %d: Paginate(last=%d, before=%q) error = %v", page, size, before, err)
		}
		if got, want := p.HasNextPage, page > 0; got != want {
			t.Errorf("page %d: HasNextPage = %v, want %v", page, got, want)
		}
		if len(p.Items) > size {
			t.Errorf("page %d: %d items, want at most %d", page, len(p.Items), size)
		}
		got = append(refs(p.Items), got...)
		if !p.HasPreviousPage {
			return got
		}
		if len(p.Cursors) == 0 {
			t.Fatalf("page %d: HasPreviousPage but no items", page)
		}
		before = p.Cursors[0]
	}
}

func TestPaginateWalk(t *testing.T) {
	for _, tt := range orders {
		for _, size := range []int{1, 2, 4, 5, 6, 7} {
			t.Run(fmt.Sprintf("%s/size %d", tt.name, size), func(t *testing.T) {
				if got := walkForward(t, fleet(), tt.order, size); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("first=%d/after walk =\n%q\nwant every item once, in order:\n%q", size, got, tt.want)
				}
				if got := walkBackward(t, fleet(), tt.order, size); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("last=%d/before walk =\n%q\nwant every item once, in order:\n%q", size, got, tt.want)
				}
			})
		}
	}
}

// Cursors must bring back exactly the time they were made from, whatever it
// is: releases without timestamps (zero Updated), times beyond UnixNano's
// range, times a nanosecond apart.
func TestPaginateWalkExtremeTimes(t *testing.T) {
	items := []release.Summary{
		sum("east", "a", "one", time.Time{}),
		sum("east", "a", "two", time.Time{}),
		sum("east", "a", "three", time.Time{}),
		sum("east", "a", "four", t0),
		sum("east", "a", "epoch", time.Unix(0, 0)),
		sum("east", "a", "far", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)),
		sum("east", "a", "nano-b", t0.Add(time.Nanosecond)),
		sum("east", "a", "nano-a", t0.Add(2*time.Nanosecond)),
		sum("east", "a", "local", t0.Add(3*time.Nanosecond).In(time.FixedZone("CET", 3600))),
	}
	for _, desc := range []bool{false, true} {
		order := clusters.Order{Field: clusters.OrderByUpdated, Desc: desc}
		want := []string{"east/a/one", "east/a/three", "east/a/two", "east/a/epoch", "east/a/four", "east/a/nano-b", "east/a/nano-a", "east/a/local", "east/a/far"}
		if desc {
			want = reversed(want)
		}
		t.Run(fmt.Sprintf("desc=%v", desc), func(t *testing.T) {
			if got := walkForward(t, items, order, 1); !reflect.DeepEqual(got, want) {
				t.Errorf("first=1/after walk =\n%q\nwant\n%q", got, want)
			}
			if got := walkBackward(t, items, order, 1); !reflect.DeepEqual(got, want) {
				t.Errorf("last=1/before walk =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestPaginatePageInfo(t *testing.T) {
	name := clusters.Order{Field: clusters.OrderByName}
	all, err := clusters.Paginate(fleet(), clusters.PageRequest{Order: name})
	if err != nil {
		t.Fatalf("Paginate() error = %v", err)
	}
	cur := all.Cursors // cursors of byNameAsc
	tests := []struct {
		name             string
		req              clusters.PageRequest
		want             []string
		hasNext, hasPrev bool
	}{
		{"first page", clusters.PageRequest{First: ptr(2)}, byNameAsc[:2], true, false},
		{"first larger than list", clusters.PageRequest{First: ptr(10)}, byNameAsc, false, false},
		{"first exactly the list", clusters.PageRequest{First: ptr(6)}, byNameAsc, false, false},
		{"first zero", clusters.PageRequest{First: ptr(0)}, []string{}, true, false},
		{"middle page", clusters.PageRequest{First: ptr(2), After: cur[1]}, byNameAsc[2:4], true, true},
		{"last page after", clusters.PageRequest{First: ptr(10), After: cur[1]}, byNameAsc[2:], false, true},
		{"after the last item", clusters.PageRequest{First: ptr(10), After: cur[5]}, []string{}, false, true},
		{"last", clusters.PageRequest{Last: ptr(2)}, byNameAsc[4:], false, true},
		{"last larger than list", clusters.PageRequest{Last: ptr(10)}, byNameAsc, false, false},
		{"last before", clusters.PageRequest{Last: ptr(1), Before: cur[2]}, byNameAsc[1:2], true, true},
		{"before the first item", clusters.PageRequest{Last: ptr(3), Before: cur[0]}, []string{}, true, false},
		{"between after and before", clusters.PageRequest{After: cur[0], Before: cur[4]}, byNameAsc[1:4], true, true},
		{"first between after and before", clusters.PageRequest{First: ptr(2), After: cur[0], Before: cur[4]}, byNameAsc[1:3], true, true},
		{"last between after and before", clusters.PageRequest{Last: ptr(2), After: cur[0], Before: cur[4]}, byNameAsc[2:4], true, true},
		{"before not after after", clusters.PageRequest{After: cur[3], Before: cur[1]}, []string{}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Order = name
			p, err := clusters.Paginate(fleet(), tt.req)
			if err != nil {
				t.Fatalf("Paginate() error = %v", err)
			}
			if got := refs(p.Items); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("items = %q, want %q", got, tt.want)
			}
			if p.HasNextPage != tt.hasNext || p.HasPreviousPage != tt.hasPrev {
				t.Errorf("HasNextPage, HasPreviousPage = %v, %v; want %v, %v", p.HasNextPage, p.HasPreviousPage, tt.hasNext, tt.hasPrev)
			}
			if got, want := p.TotalCount, 6; got != want {
				t.Errorf("TotalCount = %d, want %d (the whole list, whatever the page)", got, want)
			}
		})
	}
}

func TestPaginateDefaultPageSize(t *testing.T) {
	var items []release.Summary
	for i := range clusters.DefaultPageSize + 10 {
		items = append(items, sum("east", "ns", fmt.Sprintf("r%03d", i), t0))
	}
	p, err := clusters.Paginate(items, clusters.PageRequest{})
	if err != nil {
		t.Fatalf("Paginate() error = %v", err)
	}
	if got, want := len(p.Items), clusters.DefaultPageSize; got != want {
		t.Errorf("len(Items) = %d, want %d without first or last", got, want)
	}
	if !p.HasNextPage {
		t.Errorf("HasNextPage = false, want true")
	}
	if got, want := p.TotalCount, len(items); got != want {
		t.Errorf("TotalCount = %d, want %d", got, want)
	}
}

func TestPaginateInvalidArguments(t *testing.T) {
	nameAsc := clusters.Order{Field: clusters.OrderByName}
	cursorOf := func(o clusters.Order) string {
		t.Helper()
		p, err := clusters.Paginate(fleet(), clusters.PageRequest{First: ptr(1), Order: o})
		if err != nil || len(p.Cursors) != 1 {
			t.Fatalf("Paginate(first=1, order=%+v) = %d cursors, error %v", o, len(p.Cursors), err)
		}
		return p.Cursors[0]
	}
	nameAscCursor := cursorOf(nameAsc)
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name string
		req  clusters.PageRequest
		want []string // substrings of the message, beside "invalid argument"
	}{
		{"NAME ASC cursor with NAME DESC", clusters.PageRequest{After: nameAscCursor, Order: clusters.Order{Field: clusters.OrderByName, Desc: true}}, []string{"after", "orderBy"}},
		{"NAME ASC cursor with UPDATED ASC", clusters.PageRequest{After: nameAscCursor, Order: clusters.Order{Field: clusters.OrderByUpdated}}, []string{"after", "orderBy"}},
		{"UPDATED DESC cursor with UPDATED ASC", clusters.PageRequest{After: cursorOf(clusters.Order{Field: clusters.OrderByUpdated, Desc: true}), Order: clusters.Order{Field: clusters.OrderByUpdated}}, []string{"after", "orderBy"}},
		{"UPDATED ASC cursor with default order", clusters.PageRequest{Before: cursorOf(clusters.Order{Field: clusters.OrderByUpdated})}, []string{"before", "orderBy"}},
		{"after not base64", clusters.PageRequest{After: "not a cursor!", Order: nameAsc}, []string{"after", "malformed"}},
		{"after not JSON", clusters.PageRequest{After: b64([]byte("hello")), Order: nameAsc}, []string{"after", "malformed"}},
		{"after without order", clusters.PageRequest{After: b64([]byte(`{"n":"frontend"}`)), Order: nameAsc}, []string{"after", "malformed"}},
		{"after with padding", clusters.PageRequest{After: nameAscCursor + "==", Order: nameAsc}, []string{"after", "malformed"}},
		{"before not base64", clusters.PageRequest{Before: "%%%", Order: nameAsc}, []string{"before", "malformed"}},
		{"before JSON of another type", clusters.PageRequest{Before: b64([]byte(`["a"]`)), Order: nameAsc}, []string{"before", "malformed"}},
		{"first negative", clusters.PageRequest{First: ptr(-1)}, []string{"first", "-1"}},
		{"first too large", clusters.PageRequest{First: ptr(clusters.MaxPageSize + 1)}, []string{"first", "501"}},
		{"last negative", clusters.PageRequest{Last: ptr(-5)}, []string{"last", "-5"}},
		{"last too large", clusters.PageRequest{Last: ptr(100000)}, []string{"last", "100000"}},
		{"first and last", clusters.PageRequest{First: ptr(1), Last: ptr(1)}, []string{"first", "last"}},
		{"first and last zero", clusters.PageRequest{First: ptr(0), Last: ptr(0)}, []string{"first", "last"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := clusters.Paginate(fleet(), tt.req)
			if !errors.Is(err, release.ErrInvalidArgument) {
				t.Fatalf("Paginate() = %d items, error %v; want ErrInvalidArgument", len(p.Items), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	// The bounds themselves are valid.
	for _, n := range []int{0, 1, clusters.MaxPageSize} {
		for _, req := range []clusters.PageRequest{{First: ptr(n)}, {Last: ptr(n)}} {
			if _, err := clusters.Paginate(fleet(), req); err != nil {
				t.Errorf("Paginate(first=%v, last=%v) error = %v, want nil", req.First, req.Last, err)
			}
		}
	}
}

// Keyset cursors: releases that appear before the cursor between two pages
// must not shift the next page, and the cursor survives its own release's removal.
func TestPaginateKeysetStability(t *testing.T) {
	for _, tt := range orders[:4] {
		t.Run(tt.name, func(t *testing.T) {
			items := fleet()
			first, err := clusters.Paginate(items, clusters.PageRequest{First: ptr(3), Order: tt.order})
			if err != nil {
				t.Fatalf("page 1: Paginate() error = %v", err)
			}
			if got, want := refs(first.Items), tt.want[:3]; !reflect.DeepEqual(got, want) {
				t.Fatalf("page 1 = %q, want %q", got, want)
			}
			after := first.Cursors[2]

			// Place new releases just before (or at the very start of) the
			// cursor position, whatever the order.
			sorted, err := clusters.Paginate(items, clusters.PageRequest{Order: tt.order})
			if err != nil {
				t.Fatalf("Paginate() error = %v", err)
			}
			head, cursorItem := sorted.Items[0], sorted.Items[2]
			early := cursorItem
			early.Ref.Cluster = "a-" + early.Ref.Cluster // same name, namespace and time: sorts just before it
			if tt.order.Desc {
				early.Ref.Cluster = "z-" + cursorItem.Ref.Cluster
			}
			start := head
			start.Ref.Name = "aaa"
			start.Updated = head.Updated.Add(-time.Hour)
			if tt.order.Desc {
				start.Ref.Name = "zzz"
				start.Updated = head.Updated.Add(time.Hour)
			}
			grown := append(slices.Clone(items), early, start)

			second, err := clusters.Paginate(grown, clusters.PageRequest{First: ptr(10), After: after, Order: tt.order})
			if err != nil {
				t.Fatalf("page 2: Paginate() error = %v", err)
			}
			if got, want := refs(second.Items), tt.want[3:]; !reflect.DeepEqual(got, want) {
				t.Errorf("page 2 after inserting %s and %s before the cursor =\n%q\nwant\n%q", early.Ref, start.Ref, got, want)
			}
			if got, want := second.TotalCount, len(grown); got != want {
				t.Errorf("page 2 TotalCount = %d, want %d", got, want)
			}

			// The cursor's own release is gone: the next page still starts after it.
			shrunk := slices.DeleteFunc(slices.Clone(items), func(s release.Summary) bool { return s.Ref == cursorItem.Ref })
			second, err = clusters.Paginate(shrunk, clusters.PageRequest{First: ptr(10), After: after, Order: tt.order})
			if err != nil {
				t.Fatalf("page 2 after removal: Paginate() error = %v", err)
			}
			if got, want := refs(second.Items), tt.want[3:]; !reflect.DeepEqual(got, want) {
				t.Errorf("page 2 after removing the cursor's release %s =\n%q\nwant\n%q", cursorItem.Ref, got, want)
			}

			// Walking back from the first item of page 2 sees the inserted releases.
			back, err := clusters.Paginate(grown, clusters.PageRequest{Last: ptr(10), Before: second.Cursors[0], Order: tt.order})
			if err != nil {
				t.Fatalf("backward page: Paginate() error = %v", err)
			}
			want := []string{start.Ref.String(), tt.want[0], tt.want[1], early.Ref.String(), tt.want[2]}
			if got := refs(back.Items); !reflect.DeepEqual(got, want) {
				t.Errorf("backward page before %s =\n%q\nwant\n%q", tt.want[3], got, want)
			}
		})
	}
}

func TestFilterMatches(t *testing.T) {
	s := release.Summary{
		Ref:    release.Ref{Cluster: "east", Namespace: "shop", Name: "Frontend-Web"},
		Status: release.StatusFailed,
		Chart:  release.Chart{Name: "webapp", Version: "1.0.0"},
	}
	tests := []struct {
		name   string
		filter clusters.Filter
		want   bool
	}{
		{"empty filter", clusters.Filter{}, true},
		{"cluster listed", clusters.Filter{Clusters: []string{"west", "east"}}, true},
		{"cluster not listed", clusters.Filter{Clusters: []string{"west"}}, false},
		{"namespace listed", clusters.Filter{Namespaces: []string{"shop"}}, true},
		{"namespace not listed", clusters.Filter{Namespaces: []string{"store", "db"}}, false},
		{"name contains, other case", clusters.Filter{NameContains: "END-w"}, true},
		{"name contains whole name", clusters.Filter{NameContains: "frontend-web"}, true},
		{"name does not contain", clusters.Filter{NameContains: "backend"}, false},
		{"status listed", clusters.Filter{Statuses: []release.Status{release.StatusDeployed, release.StatusFailed}}, true},
		{"status not listed", clusters.Filter{Statuses: []release.Status{release.StatusDeployed}}, false},
		{"chart exact", clusters.Filter{Chart: "webapp"}, true},
		{"chart is not a substring match", clusters.Filter{Chart: "web"}, false},
		{"chart other case", clusters.Filter{Chart: "WebApp"}, false},
		{"every criterion holds", clusters.Filter{Clusters: []string{"east"}, Namespaces: []string{"shop"}, NameContains: "front", Statuses: []release.Status{release.StatusFailed}, Chart: "webapp"}, true},
		{"all but one criterion hold", clusters.Filter{Clusters: []string{"east"}, Namespaces: []string{"shop"}, NameContains: "front", Statuses: []release.Status{release.StatusFailed}, Chart: "cache"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Matches(s); got != tt.want {
				t.Errorf("%+v.Matches(%s) = %v, want %v", tt.filter, s.Ref, got, tt.want)
			}
		})
	}
}

func TestValidateFilter(t *testing.T) {
	reg := clusters.NewRegistry([]*clusters.Cluster{
		{Config: clusters.Config{Name: "east"}, Driver: &fakeDriver{}},
		{Config: clusters.Config{Name: "west"}, Driver: &fakeDriver{}},
	})
	tests := []struct {
		name   string
		filter clusters.Filter
		want   string // substring of the error; "" = valid
	}{
		{"empty", clusters.Filter{}, ""},
		{"known clusters", clusters.Filter{Clusters: []string{"east", "west"}}, ""},
		{"valid namespaces", clusters.Filter{Namespaces: []string{"shop", "kube-system", "a1"}}, ""},
		{"statuses and chart are free", clusters.Filter{Statuses: []release.Status{release.StatusUnknown}, Chart: "anything at all"}, ""},
		{"nameContains at the limit", clusters.Filter{NameContains: strings.Repeat("a", 253)}, ""},
		{"unknown cluster", clusters.Filter{Clusters: []string{"east", "north"}}, `filter.clusters: unknown cluster "north"`},
		{"empty cluster name", clusters.Filter{Clusters: []string{""}}, "filter.clusters"},
		{"upper-case namespace", clusters.Filter{Namespaces: []string{"Shop"}}, `filter.namespaces: "Shop"`},
		{"namespace with underscore", clusters.Filter{Namespaces: []string{"shop", "my_ns"}}, `filter.namespaces: "my_ns"`},
		{"empty namespace", clusters.Filter{Namespaces: []string{""}}, "filter.namespaces"},
		{"namespace too long", clusters.Filter{Namespaces: []string{strings.Repeat("n", 64)}}, "filter.namespaces"},
		{"nameContains too long", clusters.Filter{NameContains: strings.Repeat("a", 254)}, "filter.nameContains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := reg.ValidateFilter(tt.filter)
			if tt.want == "" {
				if err != nil {
					t.Errorf("ValidateFilter(%+v) error = %v, want nil", tt.filter, err)
				}
				return
			}
			if !errors.Is(err, release.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateFilter(%+v) error = %v, want ErrInvalidArgument containing %q", tt.filter, err, tt.want)
			}
		})
	}
}

// BenchmarkPaginateFleet cuts the first page of 100 out of a synced fleet's
// 5,000 releases (10 clusters × 500, as the cache benchmark's), the part of
// a cached releases query that the registry itself does.
func BenchmarkPaginateFleet(b *testing.B) {
	var items []release.Summary
	for c := range 10 {
		for i := range 500 {
			items = append(items, release.Summary{
				Ref:     release.Ref{Cluster: fmt.Sprintf("fleet-%02d", c), Namespace: []string{"shop", "payments", "platform", "data", "ops"}[i%5], Name: fmt.Sprintf("app-%03d", i)},
				Updated: time.Unix(int64(1_700_000_000+i), 0),
			})
		}
	}
	first := 100
	for b.Loop() {
		p, err := clusters.Paginate(items, clusters.PageRequest{First: &first})
		if err != nil || len(p.Items) != first {
			b.Fatal(len(p.Items), err)
		}
	}
}
