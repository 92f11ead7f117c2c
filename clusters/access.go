package clusters

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/release"
)

// The cache answers lists and feeds events with what helmgraph's own
// credentials read. On a cluster that impersonates, what each caller sees of
// it is cut to the namespaces where the cluster's RBAC lets the caller list
// Helm's storage objects, asked of the cluster as the caller.
const (
	// accessTTL is how long an answer of the cluster is reused: a change of
	// the cluster's RBAC applies to helmgraph's cached answers within it.
	accessTTL = 30 * time.Second
	// maxAccessDecisions bounds the answers kept per cluster.
	maxAccessDecisions = 4096
	// accessParallelism bounds the reviews one list asks at once.
	accessParallelism = 8
)

// accessChecks keeps a cluster's recent answers to "may this caller list
// Helm's storage objects in this namespace" ("" = in every namespace), per
// identity and namespace. A review that fails answers "no" to the calls that
// waited for it and is not kept (fail closed).
type accessChecks struct {
	review  func(ctx context.Context, id auth.Identity, namespace string) (bool, error)
	timeout time.Duration
	ttl     time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu        sync.Mutex
	decisions map[accessKey]*decision
}

type accessKey struct{ who, namespace string }

// decision is one answer; ready is closed once allowed and at are set.
type decision struct {
	ready   chan struct{}
	allowed bool
	err     error
	at      time.Time
}

func newAccessChecks(review func(context.Context, auth.Identity, string) (bool, error), timeout time.Duration, log *slog.Logger) *accessChecks {
	return &accessChecks{review: review, timeout: timeout, ttl: accessTTL, now: time.Now, log: log, decisions: map[accessKey]*decision{}}
}

// allowed says whether id may list in namespace: in every namespace, or in
// this one. A review that failed counts as "no".
func (a *accessChecks) allowed(ctx context.Context, id auth.Identity, namespace string) bool {
	if ok, _ := a.decide(ctx, id, ""); ok || namespace == "" {
		return ok
	}
	ok, _ := a.decide(ctx, id, namespace)
	return ok
}

// decide returns the cluster's answer for (id, namespace), kept or asked
// now; one review runs per key at a time and the others wait for it. err is
// why the review failed (then allowed is false).
func (a *accessChecks) decide(ctx context.Context, id auth.Identity, namespace string) (allowed bool, err error) {
	k := accessKey{identityKey(id), namespace}
	a.mu.Lock()
	d, ok := a.decisions[k]
	if ok {
		select {
		case <-d.ready:
			ok = a.now().Sub(d.at) < a.ttl
		default:
			a.mu.Unlock()
			select {
			case <-d.ready:
				return d.allowed, d.err
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
	}
	if ok {
		a.mu.Unlock()
		return d.allowed, nil
	}
	if len(a.decisions) >= maxAccessDecisions {
		a.prune()
	}
	d = &decision{ready: make(chan struct{})}
	a.decisions[k] = d
	a.mu.Unlock()

	// Others may wait for this answer: it does not end with this caller.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	allowed, err = a.review(rctx, id, namespace)
	cancel()
	a.mu.Lock()
	d.allowed, d.err, d.at = allowed && err == nil, err, a.now()
	if err != nil && a.decisions[k] == d {
		delete(a.decisions, k)
	}
	a.mu.Unlock()
	close(d.ready)
	if err != nil {
		a.log.Warn("access review failed; the caller sees nothing of the namespace for now", "subject", id.Subject, "namespace", namespace, "err", err)
	}
	return d.allowed, err
}

// prune forgets expired answers, or all of them when none expired; a.mu
// must be held. Reviews in flight keep their waiters.
func (a *accessChecks) prune() {
	now := a.now()
	for k, d := range a.decisions {
		select {
		case <-d.ready:
			if now.Sub(d.at) >= a.ttl {
				delete(a.decisions, k)
			}
		default:
		}
	}
	if len(a.decisions) >= maxAccessDecisions {
		clear(a.decisions)
	}
}

// listable cuts rels to the namespaces where id may list, without modifying
// rels. err names the namespaces whose review failed: their releases are
// left out.
func (a *accessChecks) listable(ctx context.Context, id auth.Identity, rels []release.Summary) ([]release.Summary, error) {
	if ok, _ := a.decide(ctx, id, ""); ok {
		return rels, nil
	}
	index := map[string]int{}
	var namespaces []string
	for _, s := range rels {
		if _, ok := index[s.Ref.Namespace]; !ok {
			index[s.Ref.Namespace] = len(namespaces)
			namespaces = append(namespaces, s.Ref.Namespace)
		}
	}
	allowed := make([]bool, len(namespaces))
	errs := make([]error, len(namespaces))
	sem := make(chan struct{}, accessParallelism)
	var wg sync.WaitGroup
	for i, ns := range namespaces {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			allowed[i], errs[i] = a.decide(ctx, id, ns)
		}()
	}
	wg.Wait()
	var failed []string
	for i, ns := range namespaces {
		if errs[i] != nil {
			failed = append(failed, ns)
		}
	}
	var kept []release.Summary
	for _, s := range rels {
		if allowed[index[s.Ref.Namespace]] {
			kept = append(kept, s)
		}
	}
	if len(failed) > 0 {
		return kept, fmt.Errorf("%w: the access of %q to namespaces %q could not be reviewed; their releases are left out", release.ErrClusterUnavailable, id.Subject, failed)
	}
	return kept, nil
}

// Visible says whether the caller in ctx may see the releases of a namespace
// of a cluster, as answered from the cache: on a cluster that impersonates,
// when the cluster's RBAC lets the caller list Helm's storage objects there
// (asked as the caller, answers kept for 30 s; a review that fails counts as
// "no"). Without a caller, on other clusters and unknown ones it is true:
// helmgraph's own rules are checked elsewhere.
func (r *Registry) Visible(ctx context.Context, cluster, namespace string) bool {
	c, ok := r.byName[cluster]
	if !ok || c.imp == nil {
		return true
	}
	id, ok := auth.FromContext(ctx)
	if !ok {
		return true
	}
	return c.imp.access.allowed(ctx, id, namespace)
}
