package auth

import (
	"context"
	"fmt"

	"github.com/helmgraph/helmgraph/release"
)

// Guard is the one place requests are authorized: the resolvers consult it
// before any driver call, and it records denials in the audit log.
type Guard struct {
	Authn  *Authenticator
	Policy *Policy
	// Audit may be nil: nothing is recorded.
	Audit *Auditor
}

// Everywhere is the cluster and namespace of actions that are not bound to
// one (managing chart repositories): only rules for "*" and "*" match it.
const Everywhere = "*"

// Authorize allows the caller in ctx to act at level on e's cluster and
// namespace, or records the denial and returns an error wrapping
// release.ErrForbidden. e describes the request for the audit log.
func (g *Guard) Authorize(ctx context.Context, level Level, e Entry) error {
	id, ok := FromContext(ctx)
	if ok && g.Policy.Allowed(id, level, e.Cluster, e.Namespace) {
		return nil
	}
	e.Subject, e.Groups, e.Result = id.Subject, id.Groups, "denied"
	if !ok {
		e.Subject = "(unauthenticated)"
	}
	where := fmt.Sprintf("namespace %q of cluster %q", e.Namespace, e.Cluster)
	if e.Cluster == Everywhere {
		where = "every cluster and namespace"
	}
	e.Error = fmt.Sprintf("%s access to %s is needed", level, where)
	g.Audit.Record(e)
	return fmt.Errorf("%w: %s: %s", release.ErrForbidden, e.Operation, e.Error)
}

// Visible returns whether the caller in ctx may read a namespace of a
// cluster; it consults the rules of the moment on every call.
func (g *Guard) Visible(ctx context.Context) func(cluster, namespace string) bool {
	id, ok := FromContext(ctx)
	if !ok {
		return func(string, string) bool { return false }
	}
	return func(cluster, namespace string) bool { return g.Policy.Allowed(id, Read, cluster, namespace) }
}

// VisibleCluster reports whether the caller may read some namespace of the cluster.
func (g *Guard) VisibleCluster(ctx context.Context, cluster string) bool {
	id, ok := FromContext(ctx)
	return ok && g.Policy.AnyIn(id, Read, cluster)
}

// Record writes e to the audit log with the caller in ctx as its subject.
func (g *Guard) Record(ctx context.Context, e Entry) {
	id, _ := FromContext(ctx)
	e.Subject, e.Groups = id.Subject, id.Groups
	g.Audit.Record(e)
}
