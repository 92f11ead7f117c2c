package ops

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/helmgraph/helmgraph/release"
)

// Store persists operations so that they outlive the request that started
// them. Implementations: MemoryStore here; a Redis one with the cache.
// Put creates or replaces an operation; Get wraps release.ErrNotFound for an
// unknown id; List returns every stored operation matching the filter, in any
// order (the Manager orders and pages them).
type Store interface {
	Put(ctx context.Context, op *Operation) error
	Get(ctx context.Context, id string) (*Operation, error)
	List(ctx context.Context, f Filter) ([]*Operation, error)
}

// Filter selects operations; every non-empty criterion must hold.
type Filter struct {
	Cluster   string
	Namespace string
	Name      string
	Kinds     []Kind
	Phases    []Phase
	// Visible, when set, hides operations on namespaces the caller may not
	// read (auth); applied before paging, so totalCount counts only those.
	Visible func(cluster, namespace string) bool
}

// Matches reports whether op passes the filter.
func (f Filter) Matches(op *Operation) bool {
	if f.Visible != nil && !f.Visible(op.Target.Cluster, op.Target.Namespace) {
		return false
	}
	return (f.Cluster == "" || op.Target.Cluster == f.Cluster) &&
		(f.Namespace == "" || op.Target.Namespace == f.Namespace) &&
		(f.Name == "" || op.Target.Name == f.Name) &&
		(len(f.Kinds) == 0 || slices.Contains(f.Kinds, op.Kind)) &&
		(len(f.Phases) == 0 || slices.Contains(f.Phases, op.Phase))
}

// MemoryStore keeps operations in memory, at most a bounded number of
// finished ones (the oldest finished are forgotten first).
type MemoryStore struct {
	mu          sync.Mutex
	ops         map[string]*Operation
	maxFinished int
}

// DefaultMaxFinished is how many finished operations a MemoryStore keeps.
const DefaultMaxFinished = 1000

// NewMemoryStore returns an empty store keeping at most maxFinished finished
// operations (DefaultMaxFinished when maxFinished <= 0).
func NewMemoryStore(maxFinished int) *MemoryStore {
	if maxFinished <= 0 {
		maxFinished = DefaultMaxFinished
	}
	return &MemoryStore{ops: map[string]*Operation{}, maxFinished: maxFinished}
}

func (s *MemoryStore) Put(_ context.Context, op *Operation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[op.ID] = op.Clone()
	if op.Phase.Done() {
		s.evict()
	}
	return nil
}

func (s *MemoryStore) evict() {
	var finished []*Operation
	for _, o := range s.ops {
		if o.Phase.Done() {
			finished = append(finished, o)
		}
	}
	if len(finished) <= s.maxFinished {
		return
	}
	slices.SortFunc(finished, func(a, b *Operation) int {
		return cmp.Or(a.FinishedAt.Compare(*b.FinishedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, o := range finished[:len(finished)-s.maxFinished] {
		delete(s.ops, o.ID)
	}
}

func (s *MemoryStore) Get(_ context.Context, id string) (*Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.ops[id]
	if !ok {
		return nil, fmt.Errorf("operation %q: %w", id, release.ErrNotFound)
	}
	return op.Clone(), nil
}

func (s *MemoryStore) List(_ context.Context, f Filter) ([]*Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Operation
	for _, o := range s.ops {
		if f.Matches(o) {
			out = append(out, o.Clone())
		}
	}
	return out, nil
}
