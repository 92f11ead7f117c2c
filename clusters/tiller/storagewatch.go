package tiller

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// StorageSelector selects the objects Tiller stores release revisions in.
const StorageSelector = "OWNER=TILLER"

// storageResources are Tiller's storage kinds: ConfigMaps by default,
// Secrets with --storage=secret. Both are watched, as the driver cannot
// tell which one this Tiller uses.
var storageResources = []string{"configmaps", "secrets"}

// Bounds of the wait before a failed storage watch is tried again.
const (
	storageRetryMin = time.Second
	storageRetryMax = time.Minute
)

// settle is how long PollWatch lets a burst of storage events gather
// before it lists: one Tiller operation writes several objects (the new
// revision, then the old one superseded).
const settle = 100 * time.Millisecond

// StorageWatch watches Tiller's release storage through the cluster's API
// server, the ConfigMaps and Secrets labelled OWNER=TILLER in Tiller's
// namespace, so that PollWatch lists as soon as a release changes instead
// of at its next poll. Only metadata is watched: an event says that
// something changed, the list says what. It never fails the watch it
// serves: when the API server refuses or is unreachable it warns once,
// leaves the work to polling, and tries again with backoff.
type StorageWatch struct {
	// REST reaches the cluster's API server; it needs list and watch on
	// configmaps and secrets in Namespace.
	REST *rest.Config
	// Namespace is Tiller's (DefaultNamespace when empty).
	Namespace string
	// Log receives the warnings; nil means slog.Default().
	Log *slog.Logger
}

func (w *StorageWatch) namespace() string {
	if w.Namespace != "" {
		return w.Namespace
	}
	return DefaultNamespace
}

func (w *StorageWatch) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}

// run follows every storage resource until ctx ends, sending on changed,
// without blocking, after each change and each (re)start of a watch (a
// change may have happened while there was none).
func (w *StorageWatch) run(ctx context.Context, changed chan<- struct{}) {
	rc := rest.CopyConfig(w.REST)
	// The cluster's timeout bounds requests; a watch is a long request
	// that the server ends itself (TimeoutSeconds below).
	rc.Timeout = 0
	mc, err := metadata.NewForConfig(rc)
	if err != nil {
		w.log().Warn("tiller storage watch unavailable; changes are seen at the next poll", slog.Any("error", err))
		return
	}
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // one is pending already: the list it causes sees this change too
		}
	}
	var wg sync.WaitGroup
	for _, res := range storageResources {
		ri := mc.Resource(corev1.SchemeGroupVersion.WithResource(res)).Namespace(w.namespace())
		wg.Go(func() { w.follow(ctx, res, ri, notify) })
	}
	wg.Wait()
}

// follow lists one resource's storage objects (metadata only, one item)
// for a resourceVersion, then watches from it, resuming where a watch the
// server ended left off and listing again when that is too old.
func (w *StorageWatch) follow(ctx context.Context, res string, ri metadata.ResourceInterface, notify func()) {
	var rv string
	r := retry{w: w, res: res, delay: storageRetryMin}
	for ctx.Err() == nil {
		if rv == "" {
			l, err := ri.List(ctx, metav1.ListOptions{LabelSelector: StorageSelector, Limit: 1})
			if err != nil {
				r.failed(ctx, err)
				continue
			}
			rv = l.ResourceVersion
			notify()
		}
		timeout := int64(300 + rand.IntN(300)) // spread the servers' watch restarts
		wi, err := ri.Watch(ctx, metav1.ListOptions{LabelSelector: StorageSelector, ResourceVersion: rv, AllowWatchBookmarks: true, TimeoutSeconds: &timeout})
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
				continue
			}
			r.failed(ctx, err)
			continue
		}
		r.working()
		started := time.Now()
		rv, err = consume(wi, rv, notify)
		switch {
		case ctx.Err() != nil:
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			// Too far behind for the API server's watch cache: list again.
			rv = ""
		case err != nil:
			r.failed(ctx, err)
		case time.Since(started) < storageRetryMin:
			// Ended at once without a word: do not hammer the server.
			select {
			case <-ctx.Done():
			case <-time.After(storageRetryMin):
			}
		}
	}
}

// consume reports each event of wi until it ends (the server ends it, or
// ctx, which the request carries), and returns the resourceVersion to
// resume from.
func consume(wi watch.Interface, rv string, notify func()) (string, error) {
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		switch ev.Type {
		case watch.Error:
			return rv, apierrors.FromObject(ev.Object)
		case watch.Bookmark:
		default:
			notify()
		}
		if m, ok := ev.Object.(*metav1.PartialObjectMetadata); ok {
			rv = m.ResourceVersion
		}
	}
	return rv, nil
}

// retry paces one resource's attempts and says once that they fail.
type retry struct {
	w       *StorageWatch
	res     string
	delay   time.Duration
	failing bool
}

// failed logs a failure the first time in a row, then waits with backoff.
func (r *retry) failed(ctx context.Context, err error) {
	attrs := []any{slog.String("namespace", r.w.namespace()), slog.String("resource", r.res), slog.Any("error", err)}
	if !r.failing {
		r.w.log().Warn("tiller storage watch unavailable; changes are seen at the next poll; retrying with backoff", attrs...)
	} else {
		r.w.log().Debug("tiller storage watch still unavailable", attrs...)
	}
	r.failing = true
	// Jitter in the upper half, so that clusters do not retry in step.
	select {
	case <-ctx.Done():
	case <-time.After(r.delay/2 + rand.N(r.delay/2+1)):
	}
	r.delay = min(2*r.delay, storageRetryMax)
}

func (r *retry) working() {
	if r.failing {
		r.w.log().Info("tiller storage watch established", slog.String("namespace", r.w.namespace()), slog.String("resource", r.res))
	}
	r.failing, r.delay = false, storageRetryMin
}
