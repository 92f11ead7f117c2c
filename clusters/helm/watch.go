package helm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/release"
)

// Watch lists the cluster's Helm storage objects once (payloads included,
// decoding only the latest revision of each release), reports them to sink,
// then follows a metadata-only watch of the same objects until ctx ends or
// the watch fails. Helm's labels (name, version, status) say what changed, so
// a status change is reported without fetching or decoding anything; a
// revision's payload is fetched (one GET) and decoded once per version of
// its storage object (UID + resourceVersion), and then only to refresh the
// summary's other fields (description, time) after the status went out.
func (d *Driver) Watch(ctx context.Context, sink release.Sink) error {
	mc, err := d.metadataClient()
	if err != nil {
		return err
	}
	w := &watcher{d: d, sink: sink, revs: map[release.Ref]map[int]objMeta{}, latest: map[release.Ref]release.Summary{}}
	rv, err := w.list(ctx)
	if err != nil {
		return w.describe("list releases", err)
	}
	for ctx.Err() == nil {
		rv, err = w.watch(ctx, mc, rv)
		switch {
		case ctx.Err() != nil:
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			// Too far behind for the API server's watch cache: list again.
			d.log.Info("helm storage watch expired; relisting", slog.Any("error", err))
			if rv, err = w.list(ctx); err != nil {
				return w.describe("relist releases", err)
			}
		case err != nil:
			return w.describe("watch releases", err)
		}
	}
	return nil
}

// apiError marks an error of the API server, as opposed to one of the sink.
type apiError struct{ error }

func (e apiError) Unwrap() error { return e.error }

// describe classifies the API server's errors; the sink's pass unchanged.
func (w *watcher) describe(what string, err error) error {
	var ae apiError
	if errors.As(err, &ae) {
		return classify(w.d.where(what, ""), ae.error)
	}
	return err
}

// objMeta is what the watch knows of one storage object (one revision).
type objMeta struct {
	uid       types.UID
	rv        string
	name      string
	status    string
	namespace string
}

type decodedRev struct {
	rv      string
	summary release.Summary
}

type watcher struct {
	d      *Driver
	sink   release.Sink
	revs   map[release.Ref]map[int]objMeta // every revision of every release
	latest map[release.Ref]release.Summary // what sink was last told
}

// decoded caches the summaries decoded from revision payloads by storage
// object, across watches and relists of the driver.
type decodedCache struct {
	mu sync.Mutex
	m  map[types.UID]decodedRev
}

func (c *decodedCache) get(uid types.UID) (decodedRev, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[uid]
	return v, ok
}

func (c *decodedCache) put(uid types.UID, v decodedRev) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.UID]decodedRev{}
	}
	c.m[uid] = v
}

func (c *decodedCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, uid)
}

func (d *Driver) metadataClient() (metadata.Interface, error) {
	rc := rest.CopyConfig(d.getter.config)
	// The cluster's timeout bounds requests; a watch is a long request that
	// the server ends itself (TimeoutSeconds below).
	rc.Timeout = 0
	mc, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("helm driver for cluster %q: metadata client: %w", d.cluster, err)
	}
	return mc, nil
}

func (d *Driver) resource() string {
	if d.storage == StorageConfigMap {
		return "configmaps"
	}
	return "secrets"
}

// list reads every storage object and reports the releases; it returns the
// list's resourceVersion to watch from.
func (w *watcher) list(ctx context.Context) (string, error) {
	d := w.d
	opts := metav1.ListOptions{LabelSelector: "owner=helm", Limit: listPage}
	type full struct {
		meta    objMeta
		rev     int
		relName string
		payload []byte
	}
	byRef := map[release.Ref]map[int]objMeta{}
	top := map[release.Ref]full{}
	var listRV string
	add := func(om metav1.ObjectMeta, payload []byte) {
		m := objMeta{uid: om.UID, rv: om.ResourceVersion, name: om.Name, status: om.Labels["status"], namespace: om.Namespace}
		name, rev := om.Labels["name"], atoi(om.Labels["version"])
		if name == "" || rev <= 0 {
			d.log.Warn("skip helm storage object without name and version labels", slog.String("namespace", om.Namespace), slog.String("object", om.Name))
			return
		}
		ref := release.Ref{Cluster: d.cluster, Namespace: om.Namespace, Name: name}
		if byRef[ref] == nil {
			byRef[ref] = map[int]objMeta{}
		}
		byRef[ref][rev] = m
		if t, ok := top[ref]; !ok || rev > t.rev {
			top[ref] = full{meta: m, rev: rev, relName: name, payload: payload}
		}
	}
	for {
		var next string
		if d.storage == StorageConfigMap {
			l, err := d.client.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, opts)
			if err != nil {
				return "", apiError{err}
			}
			for i := range l.Items {
				add(l.Items[i].ObjectMeta, []byte(l.Items[i].Data["release"]))
			}
			next, listRV = l.Continue, l.ResourceVersion
		} else {
			l, err := d.client.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, opts)
			if err != nil {
				return "", apiError{err}
			}
			for i := range l.Items {
				add(l.Items[i].ObjectMeta, l.Items[i].Data["release"])
			}
			next, listRV = l.Continue, l.ResourceVersion
		}
		if next == "" {
			break
		}
		opts.Continue = next
	}
	rels := make([]release.Summary, 0, len(top))
	latest := make(map[release.Ref]release.Summary, len(top))
	for ref, t := range top {
		s := w.decode(ref, t.rev, t.meta, t.payload)
		rels = append(rels, s)
		latest[ref] = s
	}
	w.revs, w.latest = byRef, latest
	if err := w.sink.Replace(ctx, rels); err != nil {
		return "", err
	}
	return listRV, nil
}

// decode summarises a revision from its payload, once per object version.
func (w *watcher) decode(ref release.Ref, rev int, m objMeta, payload []byte) release.Summary {
	d := w.d
	if c, ok := d.decoded.get(m.uid); ok && c.rv == m.rv {
		return c.summary
	}
	var s release.Summary
	if rls, err := decodeRelease(payload); err != nil {
		d.log.Warn("helm release payload undecodable; summarising from labels", slog.String("release", ref.String()), slog.Int("revision", rev), slog.Any("error", err))
		s = d.labelSummary(object{namespace: m.namespace, name: m.name, labels: map[string]string{"status": m.status}}, ref.Name, rev)
	} else {
		s = d.summary(m.namespace, rls)
	}
	d.decoded.put(m.uid, decodedRev{rv: m.rv, summary: s})
	return s
}

// watch follows changes from rv until the server ends the watch (nil, to be
// resumed from the returned rv) or it fails.
func (w *watcher) watch(ctx context.Context, mc metadata.Interface, rv string) (string, error) {
	timeout := int64(300 + rand.IntN(300)) // spread the servers' watch restarts
	wi, err := mc.Resource(corev1.SchemeGroupVersion.WithResource(w.d.resource())).Namespace(metav1.NamespaceAll).Watch(ctx, metav1.ListOptions{
		LabelSelector: "owner=helm", ResourceVersion: rv, AllowWatchBookmarks: true, TimeoutSeconds: &timeout,
	})
	if err != nil {
		return rv, apiError{err}
	}
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return rv, nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv, nil
			}
			if ev.Type == watch.Error {
				return rv, apiError{apierrors.FromObject(ev.Object)}
			}
			m, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				continue
			}
			rv = m.ResourceVersion
			if ev.Type == watch.Bookmark {
				continue
			}
			if err := w.apply(ctx, ev.Type, m); err != nil {
				return rv, err
			}
		}
	}
}

func (w *watcher) apply(ctx context.Context, typ watch.EventType, m *metav1.PartialObjectMetadata) error {
	name, rev := m.Labels["name"], atoi(m.Labels["version"])
	if name == "" || rev <= 0 {
		return nil
	}
	ref := release.Ref{Cluster: w.d.cluster, Namespace: m.Namespace, Name: name}
	om := objMeta{uid: m.UID, rv: m.ResourceVersion, name: m.Name, status: m.Labels["status"], namespace: m.Namespace}
	switch typ {
	case watch.Added, watch.Modified:
		if w.revs[ref] == nil {
			w.revs[ref] = map[int]objMeta{}
		}
		w.revs[ref][rev] = om
	case watch.Deleted:
		delete(w.revs[ref], rev)
		w.d.decoded.forget(m.UID)
		if len(w.revs[ref]) == 0 {
			delete(w.revs, ref)
		}
	}
	return w.refresh(ctx, ref)
}

// refresh reports the release's latest revision if it changed.
func (w *watcher) refresh(ctx context.Context, ref release.Ref) error {
	revs := w.revs[ref]
	if len(revs) == 0 {
		if _, had := w.latest[ref]; had {
			delete(w.latest, ref)
			return w.sink.Delete(ctx, ref)
		}
		return nil
	}
	rev := 0
	for r := range revs {
		rev = max(rev, r)
	}
	m := revs[rev]
	c, known := w.d.decoded.get(m.uid)
	if known && c.rv != m.rv {
		// Same revision, new object version: the labels tell the new status
		// now; the payload only refines the rest, after the change went out.
		s := c.summary
		s.RawStatus, s.Status = m.status, release.ParseRawStatus(m.status)
		if err := w.report(ctx, ref, s); err != nil {
			return err
		}
	}
	if !known || c.rv != m.rv {
		s, err := w.fetch(ctx, ref, rev, m)
		if err != nil {
			return err
		}
		return w.report(ctx, ref, s)
	}
	return w.report(ctx, ref, c.summary)
}

func (w *watcher) report(ctx context.Context, ref release.Ref, s release.Summary) error {
	if prev, ok := w.latest[ref]; ok && prev == s {
		return nil
	}
	w.latest[ref] = s
	return w.sink.Upsert(ctx, s)
}

// fetch reads one revision's storage object (a GET, not a list) and decodes it.
func (w *watcher) fetch(ctx context.Context, ref release.Ref, rev int, m objMeta) (release.Summary, error) {
	d := w.d
	gctx, cancel := context.WithTimeout(ctx, cmp.Or(d.getter.config.Timeout, DefaultFetchTimeout))
	defer cancel()
	var om metav1.ObjectMeta
	var payload []byte
	if d.storage == StorageConfigMap {
		cm, err := d.client.CoreV1().ConfigMaps(m.namespace).Get(gctx, m.name, metav1.GetOptions{})
		if err != nil {
			return w.fetchFailed(ref, rev, m, err)
		}
		om, payload = cm.ObjectMeta, []byte(cm.Data["release"])
	} else {
		s, err := d.client.CoreV1().Secrets(m.namespace).Get(gctx, m.name, metav1.GetOptions{})
		if err != nil {
			return w.fetchFailed(ref, rev, m, err)
		}
		om, payload = s.ObjectMeta, s.Data["release"]
	}
	got := objMeta{uid: om.UID, rv: om.ResourceVersion, name: om.Name, status: om.Labels["status"], namespace: om.Namespace}
	s := w.decode(ref, rev, got, payload)
	if got.rv != m.rv {
		// The object moved on since the event; the watch will bring the newer
		// version, whose labels rule the status until then.
		s.RawStatus, s.Status = m.status, release.ParseRawStatus(m.status)
	}
	return s, nil
}

func (w *watcher) fetchFailed(ref release.Ref, rev int, m objMeta, err error) (release.Summary, error) {
	if !apierrors.IsNotFound(err) {
		return release.Summary{}, apiError{err}
	}
	// Gone already: the watch's DELETED event follows. Keep the release
	// visible from its labels meanwhile.
	return w.d.labelSummary(object{namespace: m.namespace, name: m.name, labels: map[string]string{"status": m.status}}, ref.Name, rev), nil
}

// DefaultFetchTimeout bounds one GET of a storage object when the REST config sets no timeout.
const DefaultFetchTimeout = 10 * time.Second

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
