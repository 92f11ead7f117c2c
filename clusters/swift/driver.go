// Package swift is the clusters.Driver for Helm v2 clusters that run
// appscode/swift, the HTTP/JSON gateway over Tiller: it reads swift's routes
// under /tiller/v2/, either directly at swift's base URL or through the
// cluster's API server's service proxy. swift serves Tiller's own hapi
// messages as JSON, so they are decoded into those messages and converted to
// release types by the tiller package's conversion.
package swift

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/protoadapt"
	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"

	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/release"
)

// maxBody bounds one response: a list carries every revision's values.
const maxBody = 256 << 20

// Config configures a Driver for one cluster.
type Config struct {
	// Cluster is the cluster's name in helmgraph; it goes into every Ref.
	Cluster string
	// Endpoint reaches swift.
	Endpoint Endpoint
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
	// PollInterval is how often Watch lists releases
	// (tiller.DefaultPollInterval when 0).
	PollInterval time.Duration
}

// Endpoint says where swift's routes are and with which client to call them.
type Endpoint interface {
	// Name is "direct" or "service-proxy".
	Name() string
	// Base returns the URL that /tiller/v2/... is appended to, and the
	// client to call it with.
	Base(ctx context.Context) (string, *http.Client, error)
}

// Direct reaches swift at a base URL such as http://swift.example:9855.
type Direct struct {
	URL    string
	Client *http.Client // nil means http.DefaultClient
}

func (d Direct) Name() string { return "direct" }

func (d Direct) Base(context.Context) (string, *http.Client, error) {
	c := d.Client
	if c == nil {
		c = http.DefaultClient
	}
	return strings.TrimRight(d.URL, "/"), c, nil
}

// Driver reads the Helm v2 releases of one cluster through swift. It is
// safe for concurrent use.
type Driver struct {
	cluster      string
	endpoint     Endpoint
	log          *slog.Logger
	pollInterval time.Duration
}

// New returns a Driver for cfg.Cluster. It does not contact swift.
func New(cfg Config) (*Driver, error) {
	if cfg.Cluster == "" {
		return nil, errors.New("swift driver: cluster name is empty")
	}
	if cfg.Endpoint == nil {
		return nil, fmt.Errorf("swift driver for cluster %q: no endpoint", cfg.Cluster)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Driver{cluster: cfg.Cluster, endpoint: cfg.Endpoint, pollInterval: cfg.PollInterval,
		log: log.With(slog.String("cluster", cfg.Cluster), slog.String("driver", "swift"), slog.String("transport", cfg.Endpoint.Name()))}, nil
}

// Watch feeds sink with the cluster's releases, polling swift's list (it
// has no watch API) and, through the service proxy, also listing as soon
// as Tiller's storage in the API server changes; see tiller.PollWatch.
// That storage is watched in swift's namespace: swift runs beside Tiller.
func (d *Driver) Watch(ctx context.Context, sink release.Sink) error {
	var storage *tiller.StorageWatch
	if sp, ok := d.endpoint.(*ServiceProxy); ok && sp.REST != nil {
		storage = &tiller.StorageWatch{REST: sp.REST, Namespace: sp.Namespace, Log: d.log}
	}
	return tiller.PollWatch(ctx, sink, d.pollInterval, func(ctx context.Context) ([]release.Summary, error) { return d.List(ctx, nil) }, storage)
}

// Kind reports release.DriverSwift.
func (d *Driver) Kind() release.DriverKind { return release.DriverSwift }

// Transport names how the driver reaches swift: "direct" or "service-proxy".
func (d *Driver) Transport() string { return d.endpoint.Name() }

// apiError is grpc-gateway's error body; swift answers Tiller's errors with
// HTTP 500 and code 2 (Unknown).
type apiError struct {
	Error   string `json:"error"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Kind is "Status" when the API server answered instead of swift
	// (service-proxy: no such service, no endpoints, forbidden).
	Kind string `json:"kind"`
}

// get calls a swift route and decodes its JSON answer into out.
func (d *Driver) get(ctx context.Context, what, path string, q url.Values, out any) error {
	return d.call(ctx, what, http.MethodGet, path, q, nil, out)
}

// call sends a request (body, when not nil, as JSON) to a swift route and
// decodes its JSON answer into out.
func (d *Driver) call(ctx context.Context, what, method, path string, q url.Values, body any, out any) error {
	base, client, err := d.endpoint.Base(ctx)
	if err != nil {
		return d.unavailable(what, err)
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return d.unavailable(what, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return d.unavailable(what, fmt.Errorf("read response: %w", err))
	}
	if len(answer) > maxBody {
		return d.unavailable(what, fmt.Errorf("response larger than %d MiB", maxBody>>20))
	}
	if resp.StatusCode != http.StatusOK {
		return d.httpError(what, resp.StatusCode, answer)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return d.unavailable(what, fmt.Errorf("decode response: %w", err))
	}
	return nil
}

func (d *Driver) where(what string) string {
	return fmt.Sprintf("%s: swift of cluster %q (%s)", what, d.cluster, d.endpoint.Name())
}

func (d *Driver) unavailable(what string, err error) error {
	if errors.Is(err, release.ErrClusterUnavailable) {
		return fmt.Errorf("%s: %w", d.where(what), err)
	}
	return fmt.Errorf("%s: %w: %w", d.where(what), release.ErrClusterUnavailable, err)
}

// httpError maps swift's answer to a sentinel. Tiller's own errors arrive as
// 500 with the message Tiller wrote, so the message decides for those, as
// in the tiller driver.
func (d *Driver) httpError(what string, code int, body []byte) error {
	var e apiError
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && (e.Error != "" || e.Message != "") {
		msg = cmp.Or(e.Error, e.Message)
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	where := d.where(what)
	switch {
	case e.Kind == "Status" && code == http.StatusForbidden:
		return fmt.Errorf("%s: %w: the API server refused the service proxy: %s", where, release.ErrClusterUnavailable, msg)
	case e.Kind == "Status":
		return fmt.Errorf("%s: %w: API server: HTTP %d: %s", where, release.ErrClusterUnavailable, code, msg)
	case strings.Contains(msg, "incompatible versions"):
		return fmt.Errorf("%s: %w: tiller behind swift refuses swift's Helm v2 client (%s)", where, release.ErrClusterUnavailable, msg)
	case code == http.StatusNotFound && e.Code == 0:
		// Not grpc-gateway's body: the path itself is unknown (no swift there).
		return fmt.Errorf("%s: %w: HTTP %d: %s", where, release.ErrClusterUnavailable, code, msg)
	case tiller.OpSentinel(msg) != nil:
		return fmt.Errorf("%s: %w: %s", where, tiller.OpSentinel(msg), msg)
	case code == http.StatusNotFound, strings.Contains(msg, "not found"), strings.HasPrefix(msg, "no revision for release"):
		return fmt.Errorf("%s: %w: %s", where, release.ErrNotFound, msg)
	case code == http.StatusBadRequest, strings.HasPrefix(msg, "invalid release name"):
		return fmt.Errorf("%s: %w: %s", where, release.ErrInvalidArgument, msg)
	case code == http.StatusForbidden:
		return fmt.Errorf("%s: %w: %s", where, release.ErrForbidden, msg)
	}
	return fmt.Errorf("%s: %w: HTTP %d: %s", where, release.ErrClusterUnavailable, code, msg)
}

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// decode reads a hapi message from grpc-gateway JSON.
func decode(b json.RawMessage, m protoadapt.MessageV1) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return unmarshal.Unmarshal(b, protoadapt.MessageV2Of(m))
}

// Version returns the version of the Tiller behind swift.
func (d *Driver) Version(ctx context.Context) (string, error) {
	var resp struct {
		Version struct {
			SemVer string `json:"sem_ver"`
		} `json:"Version"`
	}
	if err := d.get(ctx, "get tiller version", "/tiller/v2/version/json", nil, &resp); err != nil {
		return "", err
	}
	if resp.Version.SemVer == "" {
		return "", d.unavailable("get tiller version", errors.New("no version in swift's answer"))
	}
	return resp.Version.SemVer, nil
}

type releaseSummary struct {
	Name          string          `json:"name"`
	Info          json.RawMessage `json:"info"`
	ChartMetadata json.RawMessage `json:"chart_metadata"`
	Config        json.RawMessage `json:"config"`
	Version       int32           `json:"version"`
	Namespace     string          `json:"namespace"`
}

func (s releaseSummary) release() (*hapirelease.Release, error) {
	r := &hapirelease.Release{Name: s.Name, Version: s.Version, Namespace: s.Namespace,
		Info: &hapirelease.Info{}, Chart: &hapichart.Chart{Metadata: &hapichart.Metadata{}}, Config: &hapichart.Config{}}
	if err := decode(s.Info, r.Info); err != nil {
		return nil, fmt.Errorf("release %q info: %w", s.Name, err)
	}
	if err := decode(s.ChartMetadata, r.Chart.Metadata); err != nil {
		return nil, fmt.Errorf("release %q chart_metadata: %w", s.Name, err)
	}
	if err := decode(s.Config, r.Config); err != nil {
		return nil, fmt.Errorf("release %q config: %w", s.Name, err)
	}
	return r, nil
}

// List returns the latest revision of every release in namespaces (all when
// none are given), whatever its status, sorted by namespace and name. swift
// passes limit through to Tiller, whose default is 512, and lists every
// stored revision: the limit is lifted and the newest revision kept.
func (d *Driver) List(ctx context.Context, namespaces []string) ([]release.Summary, error) {
	namespaces = dedupe(namespaces)
	q := url.Values{"all": {"true"}, "limit": {strconv.Itoa(math.MaxInt32)}, "sort_by": {"NAME"}}
	if len(namespaces) == 1 {
		q.Set("namespace", namespaces[0])
	}
	var resp struct {
		Releases []releaseSummary `json:"releases"`
	}
	if err := d.get(ctx, "list releases", "/tiller/v2/releases/json", q, &resp); err != nil {
		return nil, err
	}
	latest := map[string]*hapirelease.Release{}
	for _, s := range resp.Releases {
		if len(namespaces) > 0 && !slices.Contains(namespaces, s.Namespace) {
			continue
		}
		if cur, ok := latest[s.Name]; ok && cur.Version >= s.Version {
			continue
		}
		r, err := s.release()
		if err != nil {
			return nil, d.unavailable("list releases", err)
		}
		latest[s.Name] = r
	}
	out := make([]release.Summary, 0, len(latest))
	for _, r := range latest {
		out = append(out, tiller.Summary(d.cluster, release.DriverSwift, r))
	}
	slices.SortFunc(out, func(a, b release.Summary) int {
		return cmp.Or(cmp.Compare(a.Ref.Namespace, b.Ref.Namespace), cmp.Compare(a.Ref.Name, b.Ref.Name))
	})
	return out, nil
}

// Get returns one revision of a release with its heavy fields; revision 0
// means the latest, whatever its status.
func (d *Driver) Get(ctx context.Context, ref release.Ref, revision int) (*release.Release, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	if revision < 0 || revision > math.MaxInt32 {
		return nil, fmt.Errorf("%w: revision %d of %s: revisions start at 1", release.ErrInvalidArgument, revision, d.describe(ref))
	}
	what := "get " + d.describe(ref)
	q := url.Values{}
	if revision > 0 {
		what = fmt.Sprintf("get revision %d of %s", revision, d.describe(ref))
		q.Set("version", strconv.Itoa(revision))
	}
	var resp struct {
		Release json.RawMessage `json:"release"`
	}
	if err := d.get(ctx, what, "/tiller/v2/releases/"+url.PathEscape(ref.Name)+"/content/json", q, &resp); err != nil {
		return nil, err
	}
	r := &hapirelease.Release{}
	if err := decode(resp.Release, r); err != nil {
		return nil, d.unavailable(what, fmt.Errorf("decode release: %w", err))
	}
	if r.GetName() == "" || r.GetNamespace() != ref.Namespace {
		return nil, fmt.Errorf("%s: %w", d.describe(ref), release.ErrNotFound)
	}
	return tiller.Release(d.cluster, release.DriverSwift, r)
}

// History returns every stored revision of a release, newest first.
func (d *Driver) History(ctx context.Context, ref release.Ref) ([]release.Summary, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	what := "get history of " + d.describe(ref)
	var resp struct {
		Releases []json.RawMessage `json:"releases"`
	}
	// Without max Tiller returns no revision at all.
	q := url.Values{"max": {strconv.Itoa(math.MaxInt32)}}
	if err := d.get(ctx, what, "/tiller/v2/releases/"+url.PathEscape(ref.Name)+"/json", q, &resp); err != nil {
		return nil, err
	}
	var out []release.Summary
	for _, b := range resp.Releases {
		r := &hapirelease.Release{}
		if err := decode(b, r); err != nil {
			return nil, d.unavailable(what, fmt.Errorf("decode release: %w", err))
		}
		if r.GetNamespace() == ref.Namespace {
			out = append(out, tiller.Summary(d.cluster, release.DriverSwift, r))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", d.describe(ref), release.ErrNotFound)
	}
	slices.SortFunc(out, func(a, b release.Summary) int { return cmp.Compare(b.Revision, a.Revision) })
	return out, nil
}

func (d *Driver) describe(ref release.Ref) string {
	return fmt.Sprintf("release %q in namespace %q of cluster %q", ref.Name, ref.Namespace, d.cluster)
}

func validRef(ref release.Ref) error { return tiller.ValidateRef(ref) }

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
