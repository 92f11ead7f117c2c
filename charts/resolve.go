package charts

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
	repov1 "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

// Ref says which chart to use: a repository's chart (Repository, Name and
// an optional Version, exact or a SemVer constraint), an OCI reference
// (oci://host/path/chart:tag or @sha256:…, under a configured OCI
// repository whose credentials are used), or an uploaded Archive.
type Ref struct {
	Repository  string
	Name        string
	Version     string
	OCI         string
	Archive     []byte
	ArchiveName string
	// Field names the argument in errors, e.g. "input.chart".
	Field string
}

// Resolve finds, downloads and loads the chart ref names. Every problem with
// the reference or the archive is release.ErrInvalidArgument naming it; a
// repository that cannot be reached is release.ErrClusterUnavailable.
func (r *Registry) Resolve(ctx context.Context, ref Ref) (ops.Chart, error) {
	f := cmp.Or(ref.Field, "chart")
	given := 0
	for _, set := range []bool{ref.Repository != "" || ref.Name != "", ref.OCI != "", ref.Archive != nil} {
		if set {
			given++
		}
	}
	if given != 1 {
		return ops.Chart{}, fmt.Errorf("%w: %s: give exactly one of repository and name, oci, or archive", release.ErrInvalidArgument, f)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	switch {
	case ref.Archive != nil:
		name := cmp.Or(ref.ArchiveName, "uploaded archive")
		if int64(len(ref.Archive)) > r.opts.MaxArchiveBytes {
			return ops.Chart{}, fmt.Errorf("%w: %s.archive: %s is %d bytes, larger than the limit of %d bytes", release.ErrInvalidArgument, f, name, len(ref.Archive), r.opts.MaxArchiveBytes)
		}
		return load(f+".archive", name, "upload "+name, ref.Archive, "", "")
	case ref.OCI != "":
		return r.resolveOCI(ctx, f+".oci", nil, ref.OCI, ref.Version)
	}
	if ref.Repository == "" || ref.Name == "" {
		return ops.Chart{}, fmt.Errorf("%w: %s: both repository and name are needed", release.ErrInvalidArgument, f)
	}
	rp, err := r.get(ref.Repository)
	if err != nil {
		return ops.Chart{}, fmt.Errorf("%w: %s.repository: %v", release.ErrInvalidArgument, f, err)
	}
	if rp.cfg.IsOCI() {
		return r.resolveOCI(ctx, f, rp, rp.cfg.URL+"/"+ref.Name, ref.Version)
	}
	idx, err := rp.currentIndex(ctx)
	if err != nil {
		return ops.Chart{}, err
	}
	cv, err := idx.Get(ref.Name, ref.Version)
	if errors.Is(err, repov1.ErrNoChartName) {
		// The index may predate the chart: look once more.
		if rerr := rp.refresh(ctx); rerr == nil {
			idx, _ = rp.currentIndex(ctx)
			cv, err = idx.Get(ref.Name, ref.Version)
		}
	}
	switch {
	case errors.Is(err, repov1.ErrNoChartName):
		return ops.Chart{}, fmt.Errorf("%w: %s.name: repository %q has no chart %q", release.ErrInvalidArgument, f, ref.Repository, ref.Name)
	case err != nil:
		return ops.Chart{}, fmt.Errorf("%w: %s.version: chart %q in repository %q has no version matching %q (available: %s)",
			release.ErrInvalidArgument, f, ref.Name, ref.Repository, ref.Version, versions(idx.Entries[ref.Name], 10))
	}
	data, source, err := rp.download(ctx, cv)
	if err != nil {
		return ops.Chart{}, err
	}
	return load(f, fmt.Sprintf("archive of chart %s %s from repository %q", cv.Name, cv.Version, ref.Repository), source, data, cv.Name, cv.Version)
}

// resolveOCI pulls ref with rp's credentials; a nil rp means the
// configured OCI repository that covers ref.
func (r *Registry) resolveOCI(ctx context.Context, f string, rp *repo, ref, version string) (ops.Chart, error) {
	if !registry.IsOCI(ref) {
		return ops.Chart{}, fmt.Errorf("%w: %s: %q is not an oci:// reference", release.ErrInvalidArgument, f, ref)
	}
	if rp == nil {
		rp = r.ociRepoFor(ref)
	}
	if rp == nil {
		return ops.Chart{}, fmt.Errorf("%w: %s: no configured OCI repository covers %q; add one with addRepository", release.ErrInvalidArgument, f, ref)
	}
	plain := strings.TrimPrefix(ref, "oci://")
	hasTag := strings.Contains(plain, "@") || strings.Contains(plain[strings.LastIndex(plain, "/")+1:], ":")
	if !hasTag {
		tags, err := rp.oci.Tags(plain)
		if err != nil {
			return ops.Chart{}, rp.ociError("tags of "+plain, err)
		}
		tag, err := registry.GetTagMatchingVersionOrConstraint(tags, version)
		if err != nil {
			return ops.Chart{}, fmt.Errorf("%w: %s.version: %s has no version matching %q (available: %s)", release.ErrInvalidArgument, f, ref, version, strings.Join(first(tags, 10), ", "))
		}
		plain += ":" + tag
	}
	// The registry client takes no context: run it aside so ctx bounds the wait.
	type pulled struct {
		res *registry.PullResult
		err error
	}
	done := make(chan pulled, 1)
	go func() {
		res, err := rp.oci.Pull(plain)
		done <- pulled{res, err}
	}()
	var p pulled
	select {
	case p = <-done:
	case <-ctx.Done():
		return ops.Chart{}, fmt.Errorf("%w: repository %q: pull %s: no answer in time", release.ErrClusterUnavailable, rp.cfg.Name, plain)
	}
	if p.err != nil {
		return ops.Chart{}, rp.ociError("pull "+plain, p.err)
	}
	return load(f, "archive "+plain, "oci://"+plain, p.res.Chart.Data, "", "")
}

func (r *Registry) ociRepoFor(ref string) *repo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *repo
	for _, rp := range r.repos {
		if rp.cfg.IsOCI() && strings.HasPrefix(ref, strings.TrimSuffix(rp.cfg.URL, "/")+"/") {
			// The most specific repository wins; between equals, the first by name.
			if best == nil || len(rp.cfg.URL) > len(best.cfg.URL) || len(rp.cfg.URL) == len(best.cfg.URL) && rp.cfg.Name < best.cfg.Name {
				best = rp
			}
		}
	}
	return best
}

// load loads an archive with the Helm SDK's loader, refusing broken archives
// and archives that are not what the index promised.
func load(field, what, source string, data []byte, wantName, wantVersion string) (ops.Chart, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return ops.Chart{}, fmt.Errorf("%w: %s: %s is not a valid chart archive: %v", release.ErrInvalidArgument, field, what, err)
	}
	if err := ch.Validate(); err != nil {
		return ops.Chart{}, fmt.Errorf("%w: %s: %s: %v", release.ErrInvalidArgument, field, what, err)
	}
	m := ch.Metadata
	if wantName != "" && (m.Name != wantName || m.Version != wantVersion) {
		return ops.Chart{}, fmt.Errorf("%w: %s: %s holds chart %s %s", release.ErrInvalidArgument, field, what, m.Name, m.Version)
	}
	return ops.Chart{Name: m.Name, Version: m.Version, AppVersion: m.AppVersion, Source: source, Archive: data}, nil
}

// ChartInfo is a chart of a repository with its versions, newest first.
type ChartInfo struct {
	Name        string
	Description string
	Icon        string
	AppVersion  string
	Version     string
	Versions    []VersionInfo
}

// VersionInfo is one version of a chart.
type VersionInfo struct {
	Version     string
	AppVersion  string
	Description string
	Created     *time.Time
	Digest      string
	Deprecated  bool
}

// ChartPage is one page of a repository's charts, by name.
type ChartPage struct {
	Items       []ChartInfo
	Cursors     []string
	HasNextPage bool
	TotalCount  int
	Repository  Info
}

// Charts pages through a repository's charts whose name, description or
// keywords contain query (case-insensitive), from the cached index: it
// never waits on an HTTP repository. An OCI registry has no index: query
// must then name a chart, whose tags the registry is asked for.
func (r *Registry) Charts(ctx context.Context, repository, query string, firstN *int, after string) (ChartPage, error) {
	n := 50
	if firstN != nil {
		if *firstN < 0 || *firstN > 500 {
			return ChartPage{}, fmt.Errorf("%w: first: must be between 0 and 500, got %d", release.ErrInvalidArgument, *firstN)
		}
		n = *firstN
	}
	var from string
	if after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		if err != nil || len(b) == 0 {
			return ChartPage{}, fmt.Errorf("%w: after: malformed cursor %q", release.ErrInvalidArgument, after)
		}
		from = string(b)
	}
	rp, err := r.get(repository)
	if err != nil {
		return ChartPage{}, fmt.Errorf("%w: repository: %v", release.ErrInvalidArgument, err)
	}
	var all []ChartInfo
	if rp.cfg.IsOCI() {
		all, err = r.ociCharts(ctx, rp, query)
		if err != nil {
			return ChartPage{}, err
		}
	} else {
		rp.mu.RLock()
		idx := rp.index
		rp.mu.RUnlock()
		if idx != nil {
			all = indexCharts(idx, query)
		}
	}
	lo := 0
	if from != "" {
		lo, _ = slices.BinarySearchFunc(all, from, func(c ChartInfo, k string) int {
			if c.Name <= k {
				return -1
			}
			return 1
		})
	}
	hi := min(len(all), lo+n)
	p := ChartPage{Items: all[lo:hi], HasNextPage: hi < len(all), TotalCount: len(all), Repository: rp.info()}
	for _, c := range p.Items {
		p.Cursors = append(p.Cursors, base64.RawURLEncoding.EncodeToString([]byte(c.Name)))
	}
	return p, nil
}

func indexCharts(idx *repov1.IndexFile, query string) []ChartInfo {
	q := strings.ToLower(query)
	var out []ChartInfo
	for name, cvs := range idx.Entries {
		if len(cvs) == 0 {
			continue
		}
		latest := cvs[0] // SortEntries: newest first
		if q != "" && !strings.Contains(strings.ToLower(name), q) && !strings.Contains(strings.ToLower(latest.Description), q) &&
			!slices.ContainsFunc(latest.Keywords, func(k string) bool { return strings.Contains(strings.ToLower(k), q) }) {
			continue
		}
		ci := ChartInfo{Name: name, Description: latest.Description, Icon: latest.Icon, AppVersion: latest.AppVersion, Version: latest.Version}
		for _, cv := range cvs {
			vi := VersionInfo{Version: cv.Version, AppVersion: cv.AppVersion, Description: cv.Description, Digest: cv.Digest, Deprecated: cv.Deprecated}
			if !cv.Created.IsZero() {
				t := cv.Created
				vi.Created = &t
			}
			ci.Versions = append(ci.Versions, vi)
		}
		out = append(out, ci)
	}
	slices.SortFunc(out, func(a, b ChartInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (r *Registry) ociCharts(ctx context.Context, rp *repo, name string) ([]ChartInfo, error) {
	if name == "" {
		return nil, nil
	}
	ref := strings.TrimPrefix(rp.cfg.URL, "oci://") + "/" + name
	type tagged struct {
		tags []string
		err  error
	}
	done := make(chan tagged, 1)
	go func() {
		tags, err := rp.oci.Tags(ref)
		done <- tagged{tags, err}
	}()
	var t tagged
	select {
	case t = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: repository %q: tags of %s: no answer in time", release.ErrClusterUnavailable, rp.cfg.Name, ref)
	}
	if t.err != nil {
		if strings.Contains(t.err.Error(), "404") || strings.Contains(t.err.Error(), "not found") {
			return nil, nil
		}
		return nil, rp.ociError("tags of "+ref, t.err)
	}
	if len(t.tags) == 0 {
		return nil, nil
	}
	ci := ChartInfo{Name: name, Version: t.tags[0]}
	for _, tag := range t.tags {
		ci.Versions = append(ci.Versions, VersionInfo{Version: tag})
	}
	return []ChartInfo{ci}, nil
}

// Upload checks an archive and sends it to a repository that accepts
// uploads (ChartMuseum, Harbor, an OCI registry), then refreshes the index.
func (r *Registry) Upload(ctx context.Context, repository, filename string, data []byte) (ops.Chart, error) {
	rp, err := r.get(repository)
	if err != nil {
		return ops.Chart{}, fmt.Errorf("%w: repository: %v", release.ErrInvalidArgument, err)
	}
	name := cmp.Or(filename, "uploaded archive")
	if int64(len(data)) > r.opts.MaxArchiveBytes {
		return ops.Chart{}, fmt.Errorf("%w: archive: %s is %d bytes, larger than the limit of %d bytes", release.ErrInvalidArgument, name, len(data), r.opts.MaxArchiveBytes)
	}
	ch, err := load("archive", name, "upload "+name, data, "", "")
	if err != nil {
		return ops.Chart{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	if err := rp.upload(ctx, ch.Name, ch.Version, data); err != nil {
		return ops.Chart{}, err
	}
	if !rp.cfg.IsOCI() {
		if err := rp.refresh(ctx); err != nil {
			r.log.Warn("refresh after upload", "repository", repository, "err", err)
		}
	}
	return ch, nil
}

func versions(cvs repov1.ChartVersions, n int) string {
	var vs []string
	for _, cv := range cvs {
		vs = append(vs, cv.Version)
	}
	if len(vs) == 0 {
		return "none"
	}
	return strings.Join(first(vs, n), ", ")
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}
