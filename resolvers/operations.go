package resolvers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/graph/model"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// errNoOps is what mutations answer when the server was built without an
// operations manager or chart registry (e.g. in schema tests).
var errNoOps = errors.New("mutations are not configured on this server")

func (r *Resolver) logger() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

func (r *Resolver) opsReady() error {
	if r.Ops == nil || r.Charts == nil {
		return errNoOps
	}
	return nil
}

// maxTimeout bounds the timeout a mutation may ask for.
const maxTimeout = time.Hour

func parseTimeout(s *string) (time.Duration, error) {
	if s == nil || *s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(*s)
	if err != nil || d <= 0 || d > maxTimeout {
		return 0, fmt.Errorf("%w: input.timeout: %q is not a duration between 1s and %s, such as \"5m\"", release.ErrInvalidArgument, *s, maxTimeout)
	}
	return d, nil
}

func parseValues(s *string) (map[string]any, error) {
	return ops.ParseValues("input.values", deref(s))
}

// chartRef turns a ChartInput into a charts.Ref, reading an uploaded archive
// up to one byte past the limit so that charts can refuse it by size.
func (r *Resolver) chartRef(in *model.ChartInput) (charts.Ref, error) {
	ref := charts.Ref{Field: "input.chart"}
	if in == nil {
		return ref, fmt.Errorf("%w: input.chart: missing", release.ErrInvalidArgument)
	}
	ref.Repository, ref.Name, ref.Version, ref.OCI = deref(in.Repository), deref(in.Name), deref(in.Version), deref(in.Oci)
	if in.Archive != nil {
		data, err := readUpload(in.Archive, r.Charts.MaxArchiveBytes())
		if err != nil {
			return ref, fmt.Errorf("%w: input.chart.archive: %v", release.ErrInvalidArgument, err)
		}
		ref.Archive, ref.ArchiveName = data, in.Archive.Filename
	}
	return ref, nil
}

func readUpload(up *graphql.Upload, limit int64) ([]byte, error) {
	if up.File == nil {
		return nil, errors.New("no file")
	}
	data, err := io.ReadAll(io.LimitReader(up.File, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %v", up.Filename, err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// operation maps an ops.Operation to the graph.
func (r *Resolver) operation(op *ops.Operation) *model.Operation {
	m := &model.Operation{
		ID: op.ID, Kind: model.OperationKind(op.Kind), DryRun: op.DryRun, Phase: model.OperationPhase(op.Phase),
		Target:    &model.OperationTarget{Cluster: op.Target.Cluster, Namespace: op.Target.Namespace, Name: op.Target.Name},
		Messages:  make([]*model.OperationMessage, len(op.Messages)),
		Tests:     []*model.TestResult{},
		CreatedAt: op.CreatedAt, StartedAt: op.StartedAt, FinishedAt: op.FinishedAt,
	}
	for i, msg := range op.Messages {
		m.Messages[i] = &model.OperationMessage{Time: msg.Time, Text: msg.Text}
	}
	if op.Error != nil {
		m.Error = &model.OperationError{Code: op.Error.Code, Message: op.Error.Message}
	}
	res := op.Result
	if res == nil {
		return m
	}
	if res.Release != nil && r.Registry != nil {
		m.Release = r.Registry.NewRelease(*res.Release)
	}
	if d := res.DryRun; d != nil {
		m.DryRunResult = &model.DryRunResult{
			Revision: d.Revision, Manifest: d.Manifest, Notes: d.Notes, Values: nonNilMap(d.Values), ComputedValues: nonNilMap(d.ComputedValues),
			ManifestDiff: d.ManifestDiff, ValuesDiff: d.ValuesDiff,
		}
		if d.DeployedRevision > 0 {
			rev := d.DeployedRevision
			m.DryRunResult.DeployedRevision = &rev
		}
	}
	for _, t := range res.Tests {
		tr := &model.TestResult{Name: t.Name, Kind: t.Kind, Phase: t.Phase, StartedAt: t.StartedAt, CompletedAt: t.CompletedAt, Logs: t.Logs}
		if t.LogsError != "" {
			e := t.LogsError
			tr.LogsError = &e
		}
		m.Tests = append(m.Tests, tr)
	}
	return m
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func repositoryModel(in charts.Info) *model.Repository {
	m := &model.Repository{
		Name: in.Name, URL: in.URL, Oci: in.OCI, HasCredentials: in.HasCredentials, InsecureSkipVerify: in.InsecureSkipVerify,
		UploadSupported: in.UploadSupported, LastRefresh: in.LastRefresh, LastError: in.LastError, ChartCount: in.ChartCount,
	}
	if in.Flavor != "" {
		f := in.Flavor
		m.Flavor = &f
	}
	return m
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func chartEntry(c charts.ChartInfo) *model.ChartEntry {
	e := &model.ChartEntry{Name: c.Name, Description: optional(c.Description), IconURL: optional(c.Icon), Version: c.Version, AppVersion: optional(c.AppVersion)}
	for _, v := range c.Versions {
		e.Versions = append(e.Versions, &model.ChartVersion{Version: v.Version, AppVersion: optional(v.AppVersion), Description: optional(v.Description),
			Created: v.Created, Digest: optional(v.Digest), Deprecated: v.Deprecated})
	}
	if e.Versions == nil {
		e.Versions = []*model.ChartVersion{}
	}
	return e
}

func opFilter(f *model.OperationFilter) ops.Filter {
	var out ops.Filter
	if f == nil {
		return out
	}
	out.Cluster, out.Namespace, out.Name = deref(f.Cluster), deref(f.Namespace), deref(f.Name)
	for _, k := range f.Kinds {
		out.Kinds = append(out.Kinds, ops.Kind(k))
	}
	for _, p := range f.Phases {
		out.Phases = append(out.Phases, ops.Phase(p))
	}
	return out
}

// chartChange is what installing and upgrading share before the operation
// starts: a valid target the caller may write, parsed values and timeout,
// a cluster that can change releases, and the resolved chart.
type chartChange struct {
	ref     release.Ref
	entry   auth.Entry
	values  map[string]any
	timeout time.Duration
	chart   ops.Chart
}

func (r *Resolver) prepareChartChange(ctx context.Context, op, cluster, namespace, name string, chart *model.ChartInput, values, timeout *string) (chartChange, error) {
	var c chartChange
	if err := r.opsReady(); err != nil {
		return c, err
	}
	ref, err := validRef(cluster, namespace, name)
	if err != nil {
		return c, err
	}
	c.ref = ref
	c.entry = auth.Entry{Operation: op, Cluster: ref.Cluster, Namespace: ref.Namespace, Release: ref.Name, Chart: chartName(chart), ValuesDigest: auth.Digest(deref(values))}
	if err := r.authorizeMutation(ctx, auth.Write, c.entry); err != nil {
		return c, err
	}
	if c.values, err = parseValues(values); err != nil {
		return c, err
	}
	if c.timeout, err = parseTimeout(timeout); err != nil {
		return c, err
	}
	cref, err := r.chartRef(chart)
	if err != nil {
		return c, err
	}
	if _, _, err := r.Registry.MutatorFor(cluster); err != nil {
		return c, err
	}
	c.chart, err = r.Charts.Resolve(ctx, cref)
	return c, err
}
