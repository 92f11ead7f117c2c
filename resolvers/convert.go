package resolvers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/graph/model"
	"github.com/helmgraph/helmgraph/release"
)

func fleetQuery(filter *model.ReleaseFilter, first *int, after *string, last *int, before *string, orderBy *model.ReleaseOrder) (clusters.Filter, clusters.PageRequest) {
	var f clusters.Filter
	if filter != nil {
		f.Clusters, f.Namespaces, f.Statuses = filter.Clusters, filter.Namespaces, filter.Statuses
		f.NameContains = deref(filter.NameContains)
		f.Chart = deref(filter.Chart)
	}
	req := clusters.PageRequest{First: first, Last: last, After: deref(after), Before: deref(before)}
	if orderBy != nil {
		req.Order.Field = clusters.OrderField(orderBy.Field)
		req.Order.Desc = orderBy.Direction != nil && *orderBy.Direction == model.OrderDirectionDesc
	}
	return f, req
}

func (r *Resolver) connection(p clusters.Page, cerrs []clusters.ClusterError) *model.ReleaseConnection {
	c := &model.ReleaseConnection{
		Edges:         make([]*model.ReleaseEdge, len(p.Items)),
		Nodes:         make([]*clusters.Release, len(p.Items)),
		TotalCount:    p.TotalCount,
		ClusterErrors: make([]*clusters.ClusterError, len(cerrs)),
		PageInfo:      &model.PageInfo{HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage},
	}
	for i := range cerrs {
		c.ClusterErrors[i] = &cerrs[i]
	}
	for i, s := range p.Items {
		node := r.Registry.NewRelease(s)
		c.Nodes[i] = node
		c.Edges[i] = &model.ReleaseEdge{Cursor: p.Cursors[i], Node: node}
	}
	if n := len(p.Cursors); n > 0 {
		c.PageInfo.StartCursor, c.PageInfo.EndCursor = &p.Cursors[0], &p.Cursors[n-1]
	}
	return c
}

// validRef checks a release's coordinates as Kubernetes and Helm name them.
func validRef(cluster, namespace, name string) (release.Ref, error) {
	if msgs := validation.IsDNS1123Label(namespace); len(msgs) > 0 {
		return release.Ref{}, fmt.Errorf("%w: namespace: %q is not a valid namespace name: %s", release.ErrInvalidArgument, namespace, msgs[0])
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 || len(name) > 53 {
		return release.Ref{}, fmt.Errorf("%w: name: %q is not a valid release name (lower-case DNS name, at most 53 characters)", release.ErrInvalidArgument, name)
	}
	if cluster == "" {
		return release.Ref{}, fmt.Errorf("%w: cluster: missing", release.ErrInvalidArgument)
	}
	return release.Ref{Cluster: cluster, Namespace: namespace, Name: name}, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
