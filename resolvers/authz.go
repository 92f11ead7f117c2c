package resolvers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/graph/model"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// Authorizer is what the resolvers ask before any driver call (auth.Guard).
// A Resolver without one lets everyone do everything (schema tests).
type Authorizer interface {
	Authorize(ctx context.Context, level auth.Level, e auth.Entry) error
	Visible(ctx context.Context) func(cluster, namespace string) bool
	VisibleCluster(ctx context.Context, cluster string) bool
	Record(ctx context.Context, e auth.Entry)
}

func (r *Resolver) authorize(ctx context.Context, level auth.Level, op string, ref release.Ref) error {
	if r.Auth == nil {
		return nil
	}
	return r.Auth.Authorize(ctx, level, auth.Entry{Operation: op, Cluster: ref.Cluster, Namespace: ref.Namespace, Release: ref.Name})
}

// authorizeMutation checks a release mutation and records a denial with
// the chart and the digest of the values as sent.
func (r *Resolver) authorizeMutation(ctx context.Context, level auth.Level, e auth.Entry) error {
	if r.Auth == nil {
		return nil
	}
	return r.Auth.Authorize(ctx, level, e)
}

// visible is the caller's read predicate, nil when everything is visible.
func (r *Resolver) visible(ctx context.Context) func(cluster, namespace string) bool {
	if r.Auth == nil {
		return nil
	}
	return r.Auth.Visible(ctx)
}

// authenticated refuses callers without an identity when authorization is
// on: what every authenticated caller may see is still not for anyone.
func (r *Resolver) authenticated(ctx context.Context) error {
	if r.Auth == nil {
		return nil
	}
	if _, ok := auth.FromContext(ctx); !ok {
		return fmt.Errorf("%w: no credentials", release.ErrForbidden)
	}
	return nil
}

func (r *Resolver) visibleCluster(ctx context.Context, name string) bool {
	return r.Auth == nil || r.Auth.VisibleCluster(ctx, name)
}

// audited records a mutation's outcome: refused at once, or accepted as an
// operation whose end is recorded when it finishes.
func (r *Resolver) audited(ctx context.Context, e auth.Entry, op *ops.Operation, err error) {
	if r.Auth == nil {
		return
	}
	if err != nil {
		e.Result, e.Error = "refused", err.Error()
		r.Auth.Record(ctx, e)
		return
	}
	e.Result, e.OperationID = "accepted", op.ID
	r.Auth.Record(ctx, e)
	if r.Ops == nil {
		return
	}
	// The operation outlives the request: follow it on its own context; the
	// subscription ends when the operation does (or the manager closes).
	bg := context.WithoutCancel(ctx)
	ch, serr := r.Ops.Subscribe(bg, op.ID)
	if serr != nil {
		return
	}
	go func() {
		var last *ops.Operation
		for o := range ch {
			last = o
		}
		if last == nil || !last.Phase.Done() {
			return
		}
		e.Result, e.Error = strings.ToLower(string(last.Phase)), ""
		if last.Error != nil {
			e.Error = last.Error.Message
		}
		e.Time = time.Time{} // now
		r.Auth.Record(bg, e)
	}()
}

// seq yields first, then what in delivers.
func seq(first *ops.Operation, in <-chan *ops.Operation) func(func(*ops.Operation) bool) {
	return func(yield func(*ops.Operation) bool) {
		if !yield(first) {
			return
		}
		for op := range in {
			if !yield(op) {
				return
			}
		}
	}
}

// chartName describes a chart input for the audit log.
func chartName(in *model.ChartInput) string {
	switch {
	case in == nil:
		return ""
	case in.Archive != nil:
		return "archive:" + in.Archive.Filename
	case deref(in.Oci) != "":
		return deref(in.Oci)
	}
	s := deref(in.Repository) + "/" + deref(in.Name)
	if v := deref(in.Version); v != "" {
		s += "@" + v
	}
	return s
}

// auditRepository records a change of a chart repository.
func (r *Resolver) auditRepository(ctx context.Context, op, repository string, err error) {
	if r.Auth == nil {
		return
	}
	e := auth.Entry{Operation: op, Chart: repository, Result: "succeeded"}
	if err != nil {
		e.Result, e.Error = "refused", err.Error()
	}
	r.Auth.Record(ctx, e)
}
