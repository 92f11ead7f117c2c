package swift

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/release"
)

// Defaults for finding swift's Service.
const (
	DefaultNamespace = "kube-system"
	// ServiceLabel marks add-on Services such as swift's.
	ServiceLabel = "kubernetes.io/cluster-service"
)

// ServiceProxy reaches swift through the cluster's API server:
// {apiserver}/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy/tiller/v2/...,
// with the cluster's credentials. The Service and port are looked up once
// when not configured.
type ServiceProxy struct {
	Cluster string
	REST    *rest.Config
	// Namespace holds the Service (DefaultNamespace when empty).
	Namespace string
	// Service names it; when empty, the Service labelled
	// kubernetes.io/cluster-service=true that is swift's (named or
	// app-labelled swift), or the only one so labelled.
	Service string
	// Port is the Service port's name or number; when empty, the port named
	// http or api, else the first.
	Port string

	mu     sync.Mutex
	base   string
	client *http.Client
}

func (p *ServiceProxy) Name() string { return "service-proxy" }

// Base returns the proxy URL of swift's Service.
func (p *ServiceProxy) Base(ctx context.Context) (string, *http.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.base != "" {
		return p.base, p.client, nil
	}
	client, err := rest.HTTPClientFor(p.REST)
	if err != nil {
		return "", nil, fmt.Errorf("cluster %q: API server client: %w", p.Cluster, err)
	}
	ns := p.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	svc, port := p.Service, p.Port
	if svc == "" || port == "" {
		cs, err := kubernetes.NewForConfig(p.REST)
		if err != nil {
			return "", nil, err
		}
		s, err := p.find(ctx, cs, ns)
		if err != nil {
			return "", nil, err
		}
		svc = s.Name
		if port == "" {
			port = pickPort(s)
		}
	}
	host := strings.TrimRight(p.REST.Host, "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	target := url.PathEscape(svc)
	if port != "" {
		target += ":" + url.PathEscape(port)
	}
	p.base = fmt.Sprintf("%s/api/v1/namespaces/%s/services/%s/proxy", host, url.PathEscape(ns), target)
	p.client = client
	return p.base, p.client, nil
}

func (p *ServiceProxy) find(ctx context.Context, cs kubernetes.Interface, ns string) (*corev1.Service, error) {
	if p.Service != "" {
		s, err := cs.CoreV1().Services(ns).Get(ctx, p.Service, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%w: cluster %q: swift service %s/%s: %w", release.ErrClusterUnavailable, p.Cluster, ns, p.Service, err)
		}
		return s, nil
	}
	l, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: ServiceLabel + "=true"})
	if err != nil {
		return nil, fmt.Errorf("%w: cluster %q: find swift service in namespace %q: %w", release.ErrClusterUnavailable, p.Cluster, ns, err)
	}
	for i := range l.Items {
		s := &l.Items[i]
		if s.Name == "swift" || s.Labels["app"] == "swift" || s.Labels["app.kubernetes.io/name"] == "swift" {
			return s, nil
		}
	}
	if len(l.Items) == 1 {
		return &l.Items[0], nil
	}
	var names []string
	for _, s := range l.Items {
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("%w: cluster %q: no swift service (label %s=true) in namespace %q (found: %s); name it with swiftService",
		release.ErrClusterUnavailable, p.Cluster, ServiceLabel, ns, strings.Join(names, ", "))
}

func pickPort(s *corev1.Service) string {
	for _, p := range s.Spec.Ports {
		if p.Name == "http" || p.Name == "api" {
			return p.Name
		}
	}
	if len(s.Spec.Ports) == 0 {
		return ""
	}
	if p := s.Spec.Ports[0]; p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(s.Spec.Ports[0].Port))
}
