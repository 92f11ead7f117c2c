package resolvers

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/graph/model"
)

// eventFilter validates the filter as release filters are validated and
// returns its predicate.
func (r *Resolver) eventFilter(f *model.ReleaseEventFilter) (func(*cache.Event) bool, error) {
	if f == nil {
		return nil, nil
	}
	if err := r.Registry.ValidateFilter(clusters.Filter{Clusters: f.Clusters, Namespaces: f.Namespaces}); err != nil {
		return nil, err
	}
	return func(ev *cache.Event) bool {
		ref := ev.Release.Ref
		return (len(f.Clusters) == 0 || slices.Contains(f.Clusters, ref.Cluster)) &&
			(len(f.Namespaces) == 0 || slices.Contains(f.Namespaces, ref.Namespace)) &&
			(len(f.Names) == 0 || slices.Contains(f.Names, ref.Name)) &&
			(len(f.Statuses) == 0 || slices.Contains(f.Statuses, ev.Release.Status))
	}, nil
}

// rbacVisible returns whether the caller in ctx may see an event as the
// RBAC of an impersonating cluster decides (clusters.Registry.Visible). It
// may ask the cluster, so it runs in the subscription's own goroutine as
// events are taken, never in the Hub's match.
func (r *Resolver) rbacVisible(ctx context.Context) func(*cache.Event) bool {
	if _, caller := auth.FromContext(ctx); !caller || r.Registry == nil {
		return nil
	}
	return func(e *cache.Event) bool {
		return r.Registry.Visible(ctx, e.Release.Ref.Cluster, e.Release.Ref.Namespace)
	}
}

// takeEvent returns the subscription's next event that keep accepts (any,
// when keep is nil). open is false when the subscription ended; a nil event
// of an open subscription means ctx ended.
func takeEvent(ctx context.Context, sub *cache.Subscription, keep func(*cache.Event) bool) (e *cache.Event, open bool) {
	for {
		select {
		case <-ctx.Done():
			return nil, true
		case e, open = <-sub.C:
			if !open || keep == nil || keep(e) {
				return e, open
			}
		}
	}
}

func (r *Resolver) releaseEvent(e *cache.Event) *clusters.ReleaseEvent {
	ev := &clusters.ReleaseEvent{Kind: clusters.EventType(e.Type), Release: r.Registry.NewRelease(e.Release), ObservedAt: e.ObservedAt, Seq: e.Seq}
	if e.Type != cache.Added {
		ev.PreviousStatus, ev.PreviousRevision = &e.PreviousStatus, &e.PreviousRevision
	}
	// The event is what was seen, when it was seen.
	ev.Release.ObservedAt, ev.Release.Stale = e.ObservedAt, false
	return ev
}

// SharedEventResponses is a gqlgen extension that executes and encodes each
// release event once for all subscriptions with the same operation (query,
// operation name and variables), instead of once per subscriber: the first
// subscriber to take an event executes it, the others wait for and reuse
// its response. Transports still frame the response once per connection.
type SharedEventResponses struct {
	entries sync.Map // renderKey → *rendered
	maxSeq  atomic.Uint64
	count   atomic.Uint64 // events rendered, to prune entries now and then
}

type renderKey struct {
	seq uint64
	op  string
}

type rendered struct {
	once sync.Once
	resp *graphql.Response
}

// eventStream connects one subscription's resolver with the response
// interceptor: the interceptor takes the events from sub and passes one on
// to inner, which gqlgen's execution reads, only when it must be executed.
// Only the subscription's transport goroutine touches it after set-up.
type eventStream struct {
	op      string
	used    atomic.Bool
	sub     *cache.Subscription
	convert func(*cache.Event) *clusters.ReleaseEvent
	// keep, when set, passes over events the subscriber may not see.
	keep  func(*cache.Event) bool
	inner chan *clusters.ReleaseEvent
	ended bool // the final error went out
}

type streamKey struct{}

// NewSharedEventResponses returns the extension; add it with handler.Use.
func NewSharedEventResponses() *SharedEventResponses {
	return &SharedEventResponses{}
}

func (*SharedEventResponses) ExtensionName() string                   { return "SharedEventResponses" }
func (*SharedEventResponses) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation gives each subscription a stream its resolver may use.
func (x *SharedEventResponses) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	if op == nil || op.Operation == nil || op.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	vars, err := json.Marshal(op.Variables) // map keys sorted: equal variables, equal bytes
	if err != nil {
		return next(ctx)
	}
	st := &eventStream{
		op:    op.OperationName + "\x00" + op.RawQuery + "\x00" + string(vars),
		inner: make(chan *clusters.ReleaseEvent, 1),
	}
	return next(context.WithValue(ctx, streamKey{}, st))
}

// InterceptResponse serves an event from the shared response when another
// subscription with the same operation already executed it.
func (x *SharedEventResponses) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	st, ok := ctx.Value(streamKey{}).(*eventStream)
	if !ok || !st.used.Load() {
		return next(ctx)
	}
	if st.ended {
		close(st.inner) // gqlgen's execution sees the end of the stream
		return next(ctx)
	}
	// Events the subscriber may not see are passed over here, before the
	// shared render: what is shared is only ever an event it may see.
	e, open := takeEvent(ctx, st.sub, st.keep)
	if !open {
		err := st.sub.Err()
		if err == nil {
			close(st.inner)
			return next(ctx)
		}
		st.ended = true
		st.inner <- &clusters.ReleaseEvent{Err: err}
		return next(ctx)
	}
	if e == nil {
		return next(ctx)
	}
	if e.Seq == 0 {
		st.inner <- st.convert(e)
		return next(ctx)
	}
	// Only the subscription that executes the event converts it: the
	// others take its response, and allocate nothing for the event.
	r := x.entry(renderKey{seq: e.Seq, op: st.op})
	executed := false
	r.once.Do(func() {
		executed = true
		st.inner <- st.convert(e)
		r.resp = next(ctx)
	})
	if executed {
		return r.resp
	}
	if r.resp == nil { // the executing subscription ended meanwhile: execute here
		st.inner <- st.convert(e)
		return next(ctx)
	}
	shared := *r.resp
	return &shared
}

// entry returns the shared render of an event for an operation. Every
// subscriber of an event looks it up at once, so the map is a sync.Map (no
// lock shared by them all); renders of events long delivered are forgotten
// by whoever creates a new one.
func (x *SharedEventResponses) entry(k renderKey) *rendered {
	if r, ok := x.entries.Load(k); ok {
		return r.(*rendered)
	}
	r, loaded := x.entries.LoadOrStore(k, &rendered{})
	if !loaded && x.maxSeq.Load() < k.seq {
		x.maxSeq.Store(k.seq)
		if x.count.Add(1)%1024 == 0 {
			x.entries.Range(func(old, _ any) bool {
				if old.(renderKey).seq+64 < k.seq {
					x.entries.Delete(old)
				}
				return true
			})
		}
	}
	return r.(*rendered)
}
