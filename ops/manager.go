package ops

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// Reporter receives an operation's progress. Drivers report what they do
// through it; it is safe for concurrent use.
type Reporter interface {
	Progress(text string)
}

// Work is the body of an operation. It runs once, in a goroutine the
// Manager owns; ctx ends when the Manager is closed.
type Work func(ctx context.Context, r Reporter) (*Result, error)

// Spec names an operation before it runs.
type Spec struct {
	Kind   Kind
	Target release.Ref
	DryRun bool
	// Message is the operation's first progress message, e.g. what chart it installs.
	Message string
}

// Manager starts operations, runs them and tells subscribers about them.
type Manager struct {
	store       Store
	log         *slog.Logger
	maxMessages int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*run        // by operation id
	locks   map[release.Ref]string // release → id of the operation holding it
	closed  bool
}

type run struct {
	mu       sync.Mutex
	op       *Operation
	omitted  int
	watchers []chan struct{}
}

// validating marks a release locked by Lock whose operation has not started yet.
const validating = "(validating)"

// DefaultMaxMessages bounds the progress messages kept per operation.
const DefaultMaxMessages = 500

// NewManager returns a Manager persisting operations in store.
func NewManager(store Store, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		store: store, log: log, maxMessages: DefaultMaxMessages,
		ctx: ctx, cancel: cancel,
		running: map[string]*run{}, locks: map[release.Ref]string{},
	}
}

// Close cancels the running operations, waits for them to record how they
// ended, and refuses new ones.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// Lock reserves the release for an operation that is about to be started,
// so that synchronous validation and Start happen under one lock. It returns
// release.ErrConflict naming the operation that holds the release. Call the
// returned function to release the reservation if Start is not called.
func (m *Manager) Lock(target release.Ref) (unlock func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("%w: helmgraph is shutting down", release.ErrClusterUnavailable)
	}
	if id, busy := m.locks[target]; busy {
		by := "operation " + id
		if id == validating {
			by = "another operation that is being started"
		}
		return nil, fmt.Errorf("%w: release %q in namespace %q of cluster %q is being changed by %s; wait for it to end",
			release.ErrConflict, target.Name, target.Namespace, target.Cluster, by)
	}
	m.locks[target] = validating
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.locks[target] == validating {
				delete(m.locks, target)
			}
		})
	}, nil
}

// Start records a PENDING operation and runs work in the background. The
// release must have been locked with Lock; Start takes the lock over and
// releases it when the operation ends. It returns the operation as stored.
func (m *Manager) Start(ctx context.Context, spec Spec, work Work) (*Operation, error) {
	now := time.Now().UTC()
	op := &Operation{
		ID: newID(), Kind: spec.Kind, Target: spec.Target, DryRun: spec.DryRun,
		Phase: PhasePending, CreatedAt: now, Messages: []Message{},
	}
	if spec.Message != "" {
		op.Messages = append(op.Messages, Message{Time: now, Text: spec.Message})
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: helmgraph is shutting down", release.ErrClusterUnavailable)
	}
	if holder := m.locks[spec.Target]; holder != validating {
		m.mu.Unlock()
		return nil, fmt.Errorf("ops: Start of %s without Lock (held by %q)", spec.Target, holder)
	}
	m.locks[spec.Target] = op.ID
	r := &run{op: op}
	m.running[op.ID] = r
	m.wg.Add(1)
	m.mu.Unlock()

	if err := m.store.Put(ctx, op); err != nil {
		m.finish(r)
		m.wg.Done()
		return nil, fmt.Errorf("store operation: %w", err)
	}
	snapshot := op.Clone()
	go m.execute(r, work)
	return snapshot, nil
}

func (m *Manager) execute(r *run, work Work) {
	defer m.wg.Done()
	defer m.finish(r)
	r.update(m, func(op *Operation) {
		t := time.Now().UTC()
		op.Phase, op.StartedAt = PhaseRunning, &t
	})
	res, err := m.safeWork(r, work)
	r.update(m, func(op *Operation) {
		t := time.Now().UTC()
		op.FinishedAt, op.Result = &t, res
		if r.omitted > 0 {
			op.Messages = append(op.Messages, Message{Time: t, Text: fmt.Sprintf("(%d progress messages omitted)", r.omitted)})
		}
		if err == nil {
			op.Phase = PhaseSucceeded
			op.Messages = append(op.Messages, Message{Time: t, Text: "succeeded"})
			return
		}
		op.Phase = PhaseFailed
		op.Error = &Error{Code: codeOf(err), Message: err.Error()}
		if m.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			op.Error.Message = "interrupted: helmgraph shut down while the operation ran; check the release's status"
		}
		op.Messages = append(op.Messages, Message{Time: t, Text: "failed: " + op.Error.Message})
	})
	end := r.snapshot()
	attrs := []any{"operation", end.ID, "kind", end.Kind, "release", end.Target.String(), "dryRun", end.DryRun, "phase", end.Phase}
	if end.Error != nil {
		attrs = append(attrs, "code", end.Error.Code, "error", end.Error.Message)
	}
	m.log.Info("operation finished", attrs...)
}

// safeWork turns a panic in work into a failed operation rather than a
// crashed server.
func (m *Manager) safeWork(r *run, work Work) (res *Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			m.log.Error("operation panicked", "operation", r.op.ID, "panic", fmt.Sprint(v))
			res, err = nil, fmt.Errorf("internal error in operation")
		}
	}()
	return work(m.ctx, reporter{m: m, r: r})
}

func (m *Manager) finish(r *run) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.running, r.op.ID)
	if m.locks[r.op.Target] == r.op.ID {
		delete(m.locks, r.op.Target)
	}
	r.mu.Lock()
	for _, w := range r.watchers {
		close(w)
	}
	r.watchers = nil
	r.mu.Unlock()
}

// update changes the operation under its lock, stores it and wakes its watchers.
func (r *run) update(m *Manager, fn func(op *Operation)) {
	r.mu.Lock()
	fn(r.op)
	snapshot := r.op.Clone()
	for _, w := range r.watchers {
		select {
		case w <- struct{}{}:
		default: // the watcher has a wake-up pending; it reads the latest state anyway
		}
	}
	r.mu.Unlock()
	// A store that fails must not fail the operation: the cluster has
	// changed either way. The in-memory state stays authoritative.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.store.Put(ctx, snapshot); err != nil {
		m.log.Warn("store operation", "operation", snapshot.ID, "err", err)
	}
}

func (r *run) snapshot() *Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.op.Clone()
}

type reporter struct {
	m *Manager
	r *run
}

// MaxMessageBytes bounds one progress message; longer ones are cut.
const MaxMessageBytes = 4 << 10

func (p reporter) Progress(text string) {
	if len(text) > MaxMessageBytes {
		text = strings.ToValidUTF8(text[:MaxMessageBytes], "") + "…"
	}
	p.r.update(p.m, func(op *Operation) {
		if len(op.Messages) >= p.m.maxMessages-1 {
			p.r.omitted++
			return
		}
		op.Messages = append(op.Messages, Message{Time: time.Now().UTC(), Text: text})
	})
}

func codeOf(err error) string {
	var tf *TestFailure
	if errors.As(err, &tf) {
		return CodeTestFailed
	}
	return release.ErrorCode(err)
}

// TestFailure is the error of a test operation whose tests ran and failed.
type TestFailure struct{ Failed []string }

func (e *TestFailure) Error() string {
	return fmt.Sprintf("%d test(s) failed: %v", len(e.Failed), e.Failed)
}

// Get returns the operation; release.ErrNotFound if there is none of that id.
func (m *Manager) Get(ctx context.Context, id string) (*Operation, error) {
	m.mu.Lock()
	r, ok := m.running[id]
	m.mu.Unlock()
	if ok {
		return r.snapshot(), nil
	}
	return m.store.Get(ctx, id)
}

// Subscribe streams the operation: its current state at once, then every
// change, until it ends (the channel is then closed) or ctx ends.
func (m *Manager) Subscribe(ctx context.Context, id string) (<-chan *Operation, error) {
	m.mu.Lock()
	r, running := m.running[id]
	var wake chan struct{}
	if running {
		wake = make(chan struct{}, 1)
		r.mu.Lock()
		r.watchers = append(r.watchers, wake)
		r.mu.Unlock()
	}
	m.mu.Unlock()
	first, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make(chan *Operation, 1)
	out <- first
	if !running || first.Phase.Done() {
		close(out)
		return out, nil
	}
	go func() {
		defer close(out)
		last := len(first.Messages)
		lastPhase := first.Phase
		for {
			select {
			case <-ctx.Done():
				return
			case _, open := <-wake:
				var cur *Operation
				if open {
					cur = r.snapshot()
				} else if cur, err = m.Get(context.WithoutCancel(ctx), id); err != nil {
					cur = r.snapshot()
				}
				if len(cur.Messages) != last || cur.Phase != lastPhase || !open {
					last, lastPhase = len(cur.Messages), cur.Phase
					select {
					case out <- cur:
					case <-ctx.Done():
						return
					}
				}
				if !open || cur.Phase.Done() {
					return
				}
			}
		}
	}()
	return out, nil
}

// Page is one page of operations, newest first.
type Page struct {
	Items       []*Operation
	Cursors     []string
	HasNextPage bool
	TotalCount  int
}

// MaxPageSize bounds first; DefaultPageSize applies when it is not given.
const (
	MaxPageSize     = 200
	DefaultPageSize = 50
)

type cursor struct {
	Created time.Time `json:"c"`
	ID      string    `json:"i"`
}

// List pages through the operations matching f, newest first. after is a
// cursor from an earlier page: operations started since do not shift pages.
func (m *Manager) List(ctx context.Context, f Filter, first *int, after string) (Page, error) {
	n := DefaultPageSize
	if first != nil {
		if *first < 0 || *first > MaxPageSize {
			return Page{}, fmt.Errorf("%w: first: must be between 0 and %d, got %d", release.ErrInvalidArgument, MaxPageSize, *first)
		}
		n = *first
	}
	var from *cursor
	if after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		var c cursor
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil || c.ID == "" {
			return Page{}, fmt.Errorf("%w: after: malformed cursor %q", release.ErrInvalidArgument, after)
		}
		from = &c
	}
	all, err := m.store.List(ctx, f)
	if err != nil {
		return Page{}, err
	}
	// Running operations are fresher in memory than in the store.
	for i, o := range all {
		m.mu.Lock()
		r, ok := m.running[o.ID]
		m.mu.Unlock()
		if ok {
			all[i] = r.snapshot()
		}
	}
	key := func(o *Operation) cursor { return cursor{Created: o.CreatedAt, ID: o.ID} }
	newestFirst := func(a, b cursor) int { return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(b.ID, a.ID)) }
	slices.SortFunc(all, func(a, b *Operation) int { return newestFirst(key(a), key(b)) })
	lo := 0
	if from != nil {
		lo, _ = slices.BinarySearchFunc(all, *from, func(o *Operation, c cursor) int {
			if newestFirst(key(o), c) <= 0 {
				return -1
			}
			return 1
		})
	}
	hi := min(len(all), lo+n)
	p := Page{Items: all[lo:hi], HasNextPage: hi < len(all), TotalCount: len(all)}
	for _, o := range p.Items {
		b, _ := json.Marshal(key(o))
		p.Cursors = append(p.Cursors, base64.RawURLEncoding.EncodeToString(b))
	}
	return p, nil
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "op_" + hex.EncodeToString(b)
}
