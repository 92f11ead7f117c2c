package testenv

import (
	"context"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// WaitAllowed waits until the API server of rc lets rc's identity (an
// impersonating config, typically) do what attrs describe. The RBAC
// authorizer learns of new Roles and bindings from its informers a moment
// after they are created: a test that acts at once may be refused.
func WaitAllowed(ctx context.Context, rc *rest.Config, attrs authorizationv1.ResourceAttributes) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s in namespace %q not allowed after 20s (last answer %+v, %v)", attrs.Verb, attrs.Resource, attrs.Namespace, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
