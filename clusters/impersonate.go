package clusters

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/release"
)

// maxImpersonated bounds the drivers kept per cluster, one per identity.
const maxImpersonated = 256

// impersonator builds and caches, per caller identity, a REST config that
// impersonates the caller and what is made of it: a helm driver, and a
// client for reviews of the caller's own access (access.go).
type impersonator struct {
	cfg    Config
	rest   *rest.Config
	log    *slog.Logger
	access *accessChecks

	mu      sync.Mutex
	callers map[string]*caller
}

// caller is what an impersonator keeps for one identity; each part is made
// on first use.
type caller struct {
	rest   *rest.Config
	driver Driver
	client kubernetes.Interface
}

func newImpersonator(c Config, rc *rest.Config, log *slog.Logger) *impersonator {
	im := &impersonator{cfg: c, rest: rc, log: log, callers: map[string]*caller{}}
	im.access = newAccessChecks(im.reviewList, c.timeout(), log)
	return im
}

// driver returns the driver for the caller in ctx: an impersonating one
// when the cluster impersonates and the request has a caller, else the
// cluster's own.
func (c *Cluster) driver(ctx context.Context) Driver {
	if c.imp == nil {
		return c.Driver
	}
	id, ok := auth.FromContext(ctx)
	if !ok {
		return c.Driver // not on behalf of a request (e.g. the cache's sync)
	}
	d, err := c.imp.get(id)
	if err != nil {
		c.Log.Error("impersonating driver not built; refusing the call", "subject", id.Subject, "err", err)
		return unavailable{c.Driver, fmt.Errorf("%w: cluster %q: cannot act as %q", release.ErrClusterUnavailable, c.Config.Name, id.Subject)}
	}
	return d
}

// identityKey names an identity: its subject and its groups in order.
func identityKey(id auth.Identity) string {
	groups := slices.Clone(id.Groups)
	slices.Sort(groups)
	return id.Subject + "\x00" + strings.Join(groups, "\x00")
}

// caller returns id's entry, made on first use; im.mu must be held.
func (im *impersonator) caller(id auth.Identity) *caller {
	key := identityKey(id)
	if c, ok := im.callers[key]; ok {
		return c
	}
	if len(im.callers) >= maxImpersonated {
		clear(im.callers) // rebuilt on demand; bounded memory beats a perfect cache
	}
	groups := slices.Clone(id.Groups)
	slices.Sort(groups)
	rc := rest.CopyConfig(im.rest)
	rc.Impersonate = rest.ImpersonationConfig{UserName: id.Subject, Groups: groups}
	c := &caller{rest: rc}
	im.callers[key] = c
	return c
}

func (im *impersonator) get(id auth.Identity) (Driver, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	c := im.caller(id)
	if c.driver == nil {
		d, err := helm.New(helm.Config{Cluster: im.cfg.Name, REST: c.rest, Storage: im.cfg.Storage, Logger: im.log.With("impersonating", id.Subject)})
		if err != nil {
			return nil, err
		}
		c.driver = d
	}
	return c.driver, nil
}

// client returns a Kubernetes client that acts as id.
func (im *impersonator) client(id auth.Identity) (kubernetes.Interface, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	c := im.caller(id)
	if c.client == nil {
		cs, err := kubernetes.NewForConfig(c.rest)
		if err != nil {
			return nil, err
		}
		c.client = cs
	}
	return c.client, nil
}

// reviewList asks the cluster, as id (SelfSubjectAccessReview), whether id
// may list Helm's storage objects in namespace ("" = in every namespace):
// what reading the cluster's releases there needs.
func (im *impersonator) reviewList(ctx context.Context, id auth.Identity, namespace string) (bool, error) {
	cs, err := im.client(id)
	if err != nil {
		return false, err
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "list", Resource: storageResource(im.cfg.Storage)},
	}}
	res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return res.Status.Allowed, nil
}

// storageResource is the resource Helm keeps releases in.
func storageResource(storage string) string {
	if storage == "configmap" {
		return "configmaps"
	}
	return "secrets"
}

// unavailable is a driver whose every release call fails with err.
type unavailable struct {
	Driver
	err error
}

func (u unavailable) List(context.Context, []string) ([]release.Summary, error) { return nil, u.err }
func (u unavailable) Get(context.Context, release.Ref, int) (*release.Release, error) {
	return nil, u.err
}
func (u unavailable) History(context.Context, release.Ref) ([]release.Summary, error) {
	return nil, u.err
}

// callerReview checks, on the cluster's API server, that the caller could
// make a release's change themselves: for drivers that cannot impersonate
// (Tiller has no authentication, swift talks to Tiller), this stands in for
// the cluster's RBAC applying to the caller.
type callerReview struct {
	client kubernetes.Interface
}

// CheckCallerAccess asks the API server (SubjectAccessReview, with
// helmgraph's credentials) whether id may create Secrets in namespace, the
// right that `helm install` needs there; it returns an error wrapping
// release.ErrForbidden when not.
func CheckCallerAccess(ctx context.Context, client kubernetes.Interface, cluster string, id auth.Identity, namespace string) error {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: id.Subject, Groups: append(slices.Clone(id.Groups), "system:authenticated"),
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "create", Resource: "secrets"},
	}}
	res, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("%w: cluster %q: review the access of %q: %v", release.ErrClusterUnavailable, cluster, id.Subject, err)
	}
	if !res.Status.Allowed {
		return fmt.Errorf("%w: the RBAC of cluster %q does not let %q create secrets in namespace %q", release.ErrForbidden, cluster, id.Subject, namespace)
	}
	return nil
}

// checkCaller runs the review before a mutation when the cluster asks for
// impersonation but its driver cannot impersonate.
func (c *Cluster) checkCaller(ctx context.Context, namespace string) error {
	if c.review == nil {
		return nil
	}
	id, ok := auth.FromContext(ctx)
	if !ok {
		return nil
	}
	return CheckCallerAccess(ctx, c.review.client, c.Config.Name, id, namespace)
}

func newCallerReview(c Config, rc *rest.Config) (*callerReview, error) {
	if rc == nil || rc.Host == "" {
		return nil, fmt.Errorf("impersonate: the %s driver needs the cluster's API server (kubeconfig or server) to review the caller's access", c.Driver)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("impersonate: %w", err)
	}
	return &callerReview{client: cs}, nil
}
