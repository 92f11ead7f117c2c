package clusters

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/helmgraph/helmgraph/release"
)

// Filter selects releases; every non-empty criterion must hold.
type Filter struct {
	Clusters     []string
	Namespaces   []string
	NameContains string
	Statuses     []release.Status
	Chart        string
	// Visible, when set, hides releases the caller may not read (auth):
	// applied before paging, so totalCount counts only what is visible.
	Visible func(cluster, namespace string) bool
}

// Validate checks the filter against the registry and names the field at fault.
func (r *Registry) ValidateFilter(f Filter) error {
	for _, c := range f.Clusters {
		if _, ok := r.byName[c]; !ok {
			return fmt.Errorf("%w: filter.clusters: unknown cluster %q", release.ErrInvalidArgument, c)
		}
	}
	for _, ns := range f.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			return fmt.Errorf("%w: filter.namespaces: %q is not a valid namespace name: %s", release.ErrInvalidArgument, ns, msgs[0])
		}
	}
	if len(f.NameContains) > 253 {
		return fmt.Errorf("%w: filter.nameContains: longer than 253 characters", release.ErrInvalidArgument)
	}
	return nil
}

// Matches reports whether the summary passes the filter.
func (f Filter) Matches(s release.Summary) bool {
	if f.Visible != nil && !f.Visible(s.Ref.Cluster, s.Ref.Namespace) {
		return false
	}
	if len(f.Clusters) > 0 && !slices.Contains(f.Clusters, s.Ref.Cluster) {
		return false
	}
	if len(f.Namespaces) > 0 && !slices.Contains(f.Namespaces, s.Ref.Namespace) {
		return false
	}
	if f.NameContains != "" && !strings.Contains(strings.ToLower(s.Ref.Name), strings.ToLower(f.NameContains)) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, s.Status) {
		return false
	}
	if f.Chart != "" && s.Chart.Name != f.Chart {
		return false
	}
	return true
}

// OrderField is what releases are ordered by.
type OrderField string

const (
	OrderByName    OrderField = "NAME"
	OrderByUpdated OrderField = "UPDATED"
)

// Order is a field and a direction.
type Order struct {
	Field OrderField
	Desc  bool
}

// PageRequest is a Relay paging request.
type PageRequest struct {
	First, Last   *int
	After, Before string
	Order         Order
}

// MaxPageSize bounds first and last; DefaultPageSize applies when neither is given.
const (
	MaxPageSize     = 500
	DefaultPageSize = 50
)

// Page is one page of an ordered, filtered release list.
type Page struct {
	Items           []release.Summary
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
	TotalCount      int
}

// cursor is a position in an ordering: the sort key of the release at it.
// Keyset cursors stay valid when releases are added or removed between pages.
type cursor struct {
	Order     OrderField `json:"o"`
	Desc      bool       `json:"d,omitempty"`
	Cluster   string     `json:"c"`
	Namespace string     `json:"ns"`
	Name      string     `json:"n"`
	// Updated is Unix seconds and nanoseconds, not UnixNano, which overflows
	// for times outside 1678-2262 such as a release's zero (unset) time.
	UpdatedSec  int64 `json:"us,omitempty"`
	UpdatedNsec int64 `json:"un,omitempty"`
}

func encodeCursor(o Order, s release.Summary) string {
	c := cursor{Order: o.Field, Desc: o.Desc, Cluster: s.Ref.Cluster, Namespace: s.Ref.Namespace, Name: s.Ref.Name}
	if o.Field == OrderByUpdated {
		c.UpdatedSec, c.UpdatedNsec = s.Updated.Unix(), int64(s.Updated.Nanosecond())
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(arg, s string, o Order) (release.Summary, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Order == "" {
		return release.Summary{}, fmt.Errorf("%w: %s: malformed cursor %q", release.ErrInvalidArgument, arg, s)
	}
	if c.Order != o.Field || c.Desc != o.Desc {
		return release.Summary{}, fmt.Errorf("%w: %s: cursor belongs to another orderBy; restart paging without it", release.ErrInvalidArgument, arg)
	}
	return release.Summary{
		Ref:     release.Ref{Cluster: c.Cluster, Namespace: c.Namespace, Name: c.Name},
		Updated: time.Unix(c.UpdatedSec, c.UpdatedNsec),
	}, nil
}

// compare takes pointers: summaries are large and compared thousands of
// times per page.
func compare(o Order, a, b *release.Summary) int {
	c := 0
	if o.Field == OrderByUpdated {
		c = a.Updated.Compare(b.Updated)
	}
	// strings.Compare, one field at a time: cmp.Compare on strings makes up
	// to three string comparisons, and cmp.Or would evaluate every field.
	if c == 0 {
		c = strings.Compare(a.Ref.Name, b.Ref.Name)
	}
	if c == 0 {
		c = strings.Compare(a.Ref.Namespace, b.Ref.Namespace)
	}
	if c == 0 {
		c = strings.Compare(a.Ref.Cluster, b.Ref.Cluster)
	}
	if o.Desc {
		return -c
	}
	return c
}

// Paginate orders items and cuts the requested page out of them.
func Paginate(items []release.Summary, req PageRequest) (Page, error) {
	ptrs := make([]*release.Summary, len(items))
	for i := range items {
		ptrs[i] = &items[i]
	}
	return paginate(ptrs, req)
}

// paginate is Paginate over pointers, so that the fleet's summaries are
// neither copied nor moved to cut one page out of them.
func paginate(items []*release.Summary, req PageRequest) (Page, error) {
	if req.Order.Field == "" {
		req.Order.Field = OrderByName
	}
	for arg, n := range map[string]*int{"first": req.First, "last": req.Last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			return Page{}, fmt.Errorf("%w: %s: must be between 0 and %d, got %d", release.ErrInvalidArgument, arg, MaxPageSize, *n)
		}
	}
	if req.First != nil && req.Last != nil {
		return Page{}, fmt.Errorf("%w: first and last: pass one of them, not both", release.ErrInvalidArgument)
	}
	o := req.Order
	var after, before *release.Summary
	if req.After != "" {
		key, err := decodeCursor("after", req.After, o)
		if err != nil {
			return Page{}, err
		}
		after = &key
	}
	if req.Before != "" {
		key, err := decodeCursor("before", req.Before, o)
		if err != nil {
			return Page{}, err
		}
		before = &key
	}
	// Counting and a bounded selection give the page sorting everything
	// would, in O(n log k) instead of O(n log n) and without copying the
	// items: a synced fleet holds thousands of releases, a page at most 500.
	// lo counts the items at or before the after cursor, hi those before the
	// before cursor; the window between holds the candidates.
	lo, hi := 0, len(items)
	window := make([]int, 0, len(items))
	for i := range items {
		a := after != nil && compare(o, items[i], after) <= 0
		b := before != nil && compare(o, items[i], before) >= 0
		if a {
			lo++
		}
		if b {
			hi--
		}
		if !a && !b {
			window = append(window, i)
		}
	}
	if hi < lo {
		hi = lo
	}
	k, fromEnd := DefaultPageSize, false
	switch {
	case req.Last != nil:
		k, fromEnd = *req.Last, true
	case req.Before != "" && req.First == nil:
		// Paging backward without a size: the page just before the cursor.
		fromEnd = true
	case req.First != nil:
		k = *req.First
	}
	sel := selectK(items, window, k, fromEnd, o)
	if fromEnd {
		lo = hi - len(sel)
	} else {
		hi = lo + len(sel)
	}
	p := Page{
		Items:           make([]release.Summary, len(sel)),
		HasPreviousPage: lo > 0,
		HasNextPage:     hi < len(items),
		TotalCount:      len(items),
	}
	for i, idx := range sel {
		p.Items[i] = *items[idx]
	}
	for _, s := range p.Items {
		p.Cursors = append(p.Cursors, encodeCursor(req.Order, s))
	}
	return p, nil
}

// selectK returns the indices (into items) of the k smallest of the
// candidates, or the k largest when fromEnd, in ascending order.
func selectK(items []*release.Summary, candidates []int, k int, fromEnd bool, o Order) []int {
	best := make([]int, 0, min(k, len(candidates)))
	if k <= 0 {
		return best
	}
	cmpIdx := func(a, b int) int { return compare(o, items[a], items[b]) }
	for _, c := range candidates {
		if len(best) == k {
			if !fromEnd && cmpIdx(c, best[k-1]) >= 0 || fromEnd && cmpIdx(c, best[0]) <= 0 {
				continue
			}
			if fromEnd {
				best = best[1:] // drop the smallest; append below may reallocate
			} else {
				best = best[:k-1]
			}
		}
		at, _ := slices.BinarySearchFunc(best, c, cmpIdx)
		best = slices.Insert(best, at, c)
	}
	return best
}

// Releases lists, filters and pages releases across the fleet. Invalid
// arguments fail the call; clusters that do not answer are returned beside the page.
func (r *Registry) Releases(ctx context.Context, f Filter, req PageRequest) (Page, []ClusterError, error) {
	if err := r.ValidateFilter(f); err != nil {
		return Page{}, nil, err
	}
	// Check paging arguments before asking any cluster.
	if _, err := Paginate(nil, req); err != nil {
		return Page{}, nil, err
	}
	parts, cerrs := r.listParts(ctx, f.Clusters, f.Namespaces)
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	matched := make([]*release.Summary, 0, n)
	for _, p := range parts {
		for i := range p {
			if f.Matches(p[i]) {
				matched = append(matched, &p[i]) // p may be the cache's: only read
			}
		}
	}
	p, err := paginate(matched, req)
	return p, cerrs, err
}
