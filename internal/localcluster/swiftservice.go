package localcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// Names of the swift objects RegisterSwiftService creates in kube-system.
const (
	SwiftService = "swift"
	SwiftPod     = "swift-0"
	SwiftPort    = 9855
)

// RegisterSwiftService makes the API server's service proxy reach a swift
// (or swift-compatible gateway) listening on ip:SwiftPort, as swift's chart
// would with a controller-manager: a Running Pod swift-0 whose podIP is ip,
// a Service swift labelled kubernetes.io/cluster-service=true with port
// http 80 -> 9855, and the EndpointSlice no controller makes here. The
// proxy refuses loopback and link-local endpoints, so ip must be another
// address of this machine (a network namespace's).
func RegisterSwiftService(ctx context.Context, rc *rest.Config, ip string) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ns := TillerNamespace
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	labels := map[string]string{"app": "swift"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: SwiftPod, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "swift", Image: "appscode/swift:v0.12.1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: SwiftPort}},
		}}},
	}
	p, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		p, err = cs.CoreV1().Pods(ns).Get(ctx, SwiftPod, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("swift pod: %w", err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if p, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("swift pod status: %w", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: SwiftService, Namespace: ns,
			Labels: map[string]string{"app": "swift", "kubernetes.io/cluster-service": "true"}},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(SwiftPort), Protocol: corev1.ProtocolTCP},
		}},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("swift service: %w", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: SwiftService + "-0", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: SwiftService}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: SwiftPod, UID: p.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(SwiftPort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("swift endpoint slice: %w", err)
	}
	return nil
}
