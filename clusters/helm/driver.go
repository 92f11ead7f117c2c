package helm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"

	"helm.sh/helm/v4/pkg/action"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/release"
)

// Storage backends Helm keeps releases in.
const (
	StorageSecret    = "secret"
	StorageConfigMap = "configmap"
)

// listPage bounds one list response: each storage object carries a whole
// release (chart included), up to about 1 MiB.
const listPage = 100

// Config configures a Driver for one cluster.
type Config struct {
	// Cluster is the cluster's name in helmgraph; it goes into every Ref.
	Cluster string
	// REST reaches the cluster's API server. It is copied, not kept.
	REST *rest.Config
	// Storage is where Helm keeps releases: "secret" (the default) or "configmap".
	Storage string
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Driver reads (and, through Helm's actions, changes) the Helm releases of one
// cluster. It is safe for concurrent use.
type Driver struct {
	cluster string
	storage string
	log     *slog.Logger
	client  kubernetes.Interface
	getter  *restClientGetter

	mu      sync.Mutex
	actions map[string]*action.Configuration // by namespace

	// decoded holds the summaries Watch decoded, by storage object (watch.go).
	decoded decodedCache
}

// New returns a Driver for cfg.Cluster. It does not contact the cluster.
func New(cfg Config) (*Driver, error) {
	if cfg.Cluster == "" {
		return nil, errors.New("helm driver: cluster name is empty")
	}
	if cfg.REST == nil {
		return nil, fmt.Errorf("helm driver for cluster %q: no REST config", cfg.Cluster)
	}
	store := cfg.Storage
	switch store {
	case "", "secret", "secrets":
		store = StorageSecret
	case "configmap", "configmaps":
		store = StorageConfigMap
	default:
		return nil, fmt.Errorf("helm driver for cluster %q: unknown storage %q (want %q or %q)", cfg.Cluster, cfg.Storage, StorageSecret, StorageConfigMap)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rc := rest.CopyConfig(cfg.REST)
	if rc.UserAgent == "" {
		rc.UserAgent = "helmgraph"
	}
	// client-go's default of 5 requests per second would throttle a fleet-wide
	// List across many namespaces long before the API server minds.
	if rc.QPS == 0 && rc.RateLimiter == nil {
		rc.QPS, rc.Burst = 50, 100
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("helm driver for cluster %q: build client: %w", cfg.Cluster, err)
	}
	return &Driver{
		cluster: cfg.Cluster,
		storage: store,
		log:     log.With(slog.String("cluster", cfg.Cluster), slog.String("driver", "helm")),
		client:  client,
		getter:  &restClientGetter{config: rc, discovery: &sharedDiscovery{}},
		actions: map[string]*action.Configuration{},
	}, nil
}

// Kind reports release.DriverHelm.
func (d *Driver) Kind() release.DriverKind { return release.DriverHelm }

// Version returns the API server's git version, e.g. "v1.37.2".
func (d *Driver) Version(ctx context.Context) (string, error) {
	v, err := discovery.ToServerVersionInterfaceWithContext(d.client.Discovery()).ServerVersionWithContext(ctx)
	if err != nil {
		return "", classify(fmt.Sprintf("get version of cluster %q", d.cluster), err)
	}
	return v.GitVersion, nil
}

// List returns the latest revision of every release in namespaces (all when
// none are given), whatever its status, sorted by namespace and name. Only
// the latest revision of each release is decoded: the storage labels say
// which one that is.
func (d *Driver) List(ctx context.Context, namespaces []string) ([]release.Summary, error) {
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	selector := labels.Set{"owner": "helm"}.String()
	type candidate struct {
		obj object
		rev int
		rls *rspb.Release
	}
	latest := map[release.Ref]candidate{}
	for _, ns := range dedupe(namespaces) {
		objs, err := d.listObjects(ctx, ns, selector)
		if err != nil {
			return nil, classify(d.where("list releases", ns), err)
		}
		for _, o := range objs {
			name, rev := o.labels["name"], o.revision()
			var rls *rspb.Release
			if name == "" || rev <= 0 {
				// Labels edited or stripped: only the payload can tell.
				if rls, err = decodeRelease(o.payload); err != nil {
					d.log.Warn("skip undecodable helm storage object", slog.String("namespace", o.namespace), slog.String("object", o.name), slog.Any("error", err))
					continue
				}
				name, rev = rls.Name, rls.Version
			}
			ref := release.Ref{Cluster: d.cluster, Namespace: o.namespace, Name: name}
			if c, ok := latest[ref]; !ok || rev > c.rev {
				latest[ref] = candidate{obj: o, rev: rev, rls: rls}
			}
		}
	}
	out := make([]release.Summary, 0, len(latest))
	for ref, c := range latest {
		if c.rls == nil {
			rls, err := decodeRelease(c.obj.payload)
			if err != nil {
				d.log.Warn("helm release payload undecodable; summarising from labels", slog.String("release", ref.String()), slog.Int("revision", c.rev), slog.Any("error", err))
				out = append(out, d.labelSummary(c.obj, ref.Name, c.rev))
				continue
			}
			c.rls = rls
		}
		out = append(out, d.summary(c.obj.namespace, c.rls))
	}
	slices.SortFunc(out, func(a, b release.Summary) int {
		return cmp.Or(cmp.Compare(a.Ref.Namespace, b.Ref.Namespace), cmp.Compare(a.Ref.Name, b.Ref.Name))
	})
	return out, nil
}

// Get returns one revision of a release with its heavy fields; revision 0
// means the latest.
func (d *Driver) Get(ctx context.Context, ref release.Ref, revision int) (*release.Release, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	if revision < 0 {
		return nil, fmt.Errorf("%w: revision %d of %s: revisions start at 1", release.ErrInvalidArgument, revision, d.describe(ref))
	}
	var obj object
	if revision > 0 {
		key := fmt.Sprintf("%s.%s.v%d", storage.HelmStorageType, ref.Name, revision)
		o, err := d.getObject(ctx, ref.Namespace, key)
		if err != nil {
			return nil, classify(fmt.Sprintf("get revision %d of %s", revision, d.describe(ref)), err)
		}
		if o.labels["owner"] != "helm" {
			return nil, fmt.Errorf("revision %d of %s: %w", revision, d.describe(ref), release.ErrNotFound)
		}
		obj = o
	} else {
		objs, err := d.listObjects(ctx, ref.Namespace, releaseSelector(ref.Name))
		if err != nil {
			return nil, classify("get "+d.describe(ref), err)
		}
		if len(objs) == 0 {
			return nil, fmt.Errorf("%s: %w", d.describe(ref), release.ErrNotFound)
		}
		obj = slices.MaxFunc(objs, func(a, b object) int { return cmp.Compare(a.revision(), b.revision()) })
	}
	rls, err := decodeRelease(obj.payload)
	if err != nil {
		return nil, fmt.Errorf("%s, storage object %q: %w", d.describe(ref), obj.name, err)
	}
	computed, err := computedValues(rls)
	if err != nil {
		return nil, fmt.Errorf("compute values of revision %d of %s: %w", rls.Version, d.describe(ref), err)
	}
	r := &release.Release{
		Summary:        d.summary(obj.namespace, rls),
		Manifest:       rls.Manifest,
		Values:         rls.Config,
		ComputedValues: computed,
	}
	if r.Values == nil {
		r.Values = map[string]any{}
	}
	if rls.Info != nil {
		r.Notes = rls.Info.Notes
	}
	return r, nil
}

// History returns every stored revision of a release, newest first.
func (d *Driver) History(ctx context.Context, ref release.Ref) ([]release.Summary, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	objs, err := d.listObjects(ctx, ref.Namespace, releaseSelector(ref.Name))
	if err != nil {
		return nil, classify("get history of "+d.describe(ref), err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s: %w", d.describe(ref), release.ErrNotFound)
	}
	out := make([]release.Summary, 0, len(objs))
	for _, o := range objs {
		rls, err := decodeRelease(o.payload)
		if err != nil {
			d.log.Warn("helm release payload undecodable; summarising from labels", slog.String("release", ref.String()), slog.String("object", o.name), slog.Any("error", err))
			out = append(out, d.labelSummary(o, ref.Name, o.revision()))
			continue
		}
		out = append(out, d.summary(o.namespace, rls))
	}
	slices.SortFunc(out, func(a, b release.Summary) int { return cmp.Compare(b.Revision, a.Revision) })
	return out, nil
}

// actionConfig returns the Helm action configuration for namespace, creating
// it on first use. Helm binds a Configuration (its storage and kube client) to
// one namespace; building one costs a discovery round, so they are kept.
func (d *Driver) actionConfig(namespace string) (*action.Configuration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.actions[namespace]; ok {
		return c, nil
	}
	c := action.NewConfiguration(action.ConfigurationSetLogger(d.log.Handler()))
	if err := c.Init(d.getter.forNamespace(namespace), namespace, d.storage); err != nil {
		return nil, fmt.Errorf("helm action configuration for namespace %q of cluster %q: %w", namespace, d.cluster, err)
	}
	d.actions[namespace] = c
	return c, nil
}

func (d *Driver) summary(namespace string, rls *rspb.Release) release.Summary {
	s := release.Summary{
		Ref:      release.Ref{Cluster: d.cluster, Namespace: namespace, Name: rls.Name},
		Revision: rls.Version,
		Status:   release.StatusUnknown,
		Driver:   release.DriverHelm,
	}
	if info := rls.Info; info != nil {
		s.RawStatus = info.Status.String()
		s.Status = release.ParseRawStatus(s.RawStatus)
		s.Updated = info.LastDeployed
		if s.Updated.IsZero() {
			s.Updated = info.FirstDeployed
		}
		s.Description = info.Description
	}
	if rls.Chart != nil && rls.Chart.Metadata != nil {
		m := rls.Chart.Metadata
		s.Chart = release.Chart{Name: m.Name, Version: m.Version, AppVersion: m.AppVersion}
	}
	return s
}

// labelSummary is what the storage labels alone say about a revision whose
// payload cannot be decoded, so that the release stays visible.
func (d *Driver) labelSummary(o object, name string, revision int) release.Summary {
	raw := o.labels["status"]
	return release.Summary{
		Ref:         release.Ref{Cluster: d.cluster, Namespace: o.namespace, Name: name},
		Revision:    revision,
		Status:      release.ParseRawStatus(raw),
		RawStatus:   raw,
		Description: "release payload could not be decoded",
		Driver:      release.DriverHelm,
	}
}

// computedValues are the values the templates saw: the chart's defaults
// (and its subcharts') coalesced with the user-supplied ones, as
// `helm get values --all` shows them.
func computedValues(rls *rspb.Release) (map[string]any, error) {
	if rls.Chart == nil {
		if rls.Config == nil {
			return map[string]any{}, nil
		}
		return maps.Clone(rls.Config), nil
	}
	v, err := chartutil.CoalesceValues(rls.Chart, rls.Config)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]any{}, nil
	}
	return v, nil
}

func (d *Driver) describe(ref release.Ref) string {
	return fmt.Sprintf("release %q in namespace %q of cluster %q", ref.Name, ref.Namespace, d.cluster)
}

func (d *Driver) where(what, namespace string) string {
	if namespace == "" {
		return fmt.Sprintf("%s in all namespaces of cluster %q", what, d.cluster)
	}
	return fmt.Sprintf("%s in namespace %q of cluster %q", what, namespace, d.cluster)
}

func validRef(ref release.Ref) error {
	if ref.Namespace == "" || ref.Name == "" {
		return fmt.Errorf("%w: release %q in namespace %q: both a namespace and a name are required", release.ErrInvalidArgument, ref.Name, ref.Namespace)
	}
	// The name goes into a label selector and an object name; Helm only
	// allows names that are valid label values anyway.
	if errs := validation.IsValidLabelValue(ref.Name); len(errs) > 0 {
		return fmt.Errorf("%w: release name %q: %s", release.ErrInvalidArgument, ref.Name, errs[0])
	}
	if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
		return fmt.Errorf("%w: namespace %q: %s", release.ErrInvalidArgument, ref.Namespace, errs[0])
	}
	return nil
}

func releaseSelector(name string) string {
	return labels.Set{"owner": "helm", "name": name}.String()
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// object is a Helm storage object (Secret or ConfigMap) reduced to what the
// driver reads.
type object struct {
	namespace, name string
	labels          map[string]string
	payload         []byte
}

func (o object) revision() int {
	v, err := strconv.Atoi(o.labels["version"])
	if err != nil {
		return 0
	}
	return v
}

func (d *Driver) listObjects(ctx context.Context, namespace, selector string) ([]object, error) {
	opts := metav1.ListOptions{LabelSelector: selector, Limit: listPage}
	var out []object
	for {
		var next string
		if d.storage == StorageConfigMap {
			l, err := d.client.CoreV1().ConfigMaps(namespace).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			for i := range l.Items {
				cm := &l.Items[i]
				out = append(out, object{namespace: cm.Namespace, name: cm.Name, labels: cm.Labels, payload: []byte(cm.Data["release"])})
			}
			next = l.Continue
		} else {
			l, err := d.client.CoreV1().Secrets(namespace).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			for i := range l.Items {
				s := &l.Items[i]
				out = append(out, object{namespace: s.Namespace, name: s.Name, labels: s.Labels, payload: s.Data["release"]})
			}
			next = l.Continue
		}
		if next == "" {
			return out, nil
		}
		opts.Continue = next
	}
}

func (d *Driver) getObject(ctx context.Context, namespace, name string) (object, error) {
	if d.storage == StorageConfigMap {
		cm, err := d.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return object{}, err
		}
		return object{namespace: cm.Namespace, name: cm.Name, labels: cm.Labels, payload: []byte(cm.Data["release"])}, nil
	}
	s, err := d.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return object{}, err
	}
	return object{namespace: s.Namespace, name: s.Name, labels: s.Labels, payload: s.Data["release"]}, nil
}
