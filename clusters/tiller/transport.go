package tiller

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/helmgraph/helmgraph/release"
)

// Transport opens network connections to a Tiller's gRPC port. gRPC dials
// through it whenever it needs a connection, so a transport that can
// reconnect (a port-forward that dropped) heals the client by itself.
type Transport interface {
	// Name is "direct" or "port-forward".
	Name() string
	// Dial opens one connection to Tiller.
	Dial(ctx context.Context) (net.Conn, error)
	// Close releases what the transport holds open.
	Close() error
}

// Direct reaches Tiller at a host:port.
type Direct struct{ Addr string }

func (d Direct) Name() string { return "direct" }

func (d Direct) Dial(ctx context.Context) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", d.Addr)
}

func (d Direct) Close() error { return nil }

// Defaults of the Helm v2 client for finding Tiller.
const (
	DefaultNamespace = "kube-system"
	DefaultSelector  = "app=helm,name=tiller"
	DefaultPort      = 44134
)

// PortForward reaches Tiller through the cluster's API server
// (POST /api/v1/namespaces/{ns}/pods/{pod}/portforward), as the Helm v2
// client did. One forward is opened on first use and shared by every
// connection; when it drops (API server restart, pod gone) the next dial
// opens a new one, looking the pod up again.
type PortForward struct {
	Cluster string
	REST    *rest.Config
	// Namespace and Selector find the Tiller pod (DefaultNamespace,
	// DefaultSelector when empty); Pod names it instead.
	Namespace, Selector, Pod string
	// Port is Tiller's gRPC port in the pod (DefaultPort when 0).
	Port int

	mu     sync.Mutex
	fwd    *forward
	closed bool
	opened int
}

// Opened is how many forwards have been opened so far.
func (p *PortForward) Opened() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opened
}

type forward struct {
	local string
	pod   string
	stop  chan struct{}
	done  chan struct{} // closed when the forward has ended
	err   error         // why it ended, once done is closed
}

func (f *forward) alive() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

func (p *PortForward) Name() string { return "port-forward" }

// Dial connects to Tiller through the current forward, opening one if none
// is alive.
func (p *PortForward) Dial(ctx context.Context) (net.Conn, error) {
	f, err := p.current(ctx)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", f.local)
}

func (p *PortForward) current(ctx context.Context) (*forward, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("port-forward to tiller of cluster %q: closed", p.Cluster)
	}
	if p.fwd != nil && p.fwd.alive() {
		return p.fwd, nil
	}
	f, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	p.fwd = f
	p.opened++
	return f, nil
}

// Close stops the forward.
func (p *PortForward) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.fwd != nil {
		close(p.fwd.stop)
		<-p.fwd.done
		p.fwd = nil
	}
	return nil
}

func (p *PortForward) namespace() string {
	if p.Namespace != "" {
		return p.Namespace
	}
	return DefaultNamespace
}

// pod finds a running Tiller pod, as the Helm v2 client's GetTillerPodName.
func (p *PortForward) pod(ctx context.Context, cs kubernetes.Interface) (string, error) {
	ns := p.namespace()
	if p.Pod != "" {
		return p.Pod, nil
	}
	sel := p.Selector
	if sel == "" {
		sel = DefaultSelector
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return "", fmt.Errorf("%w: cluster %q: find tiller pod (labels %s) in namespace %q: %w", release.ErrClusterUnavailable, p.Cluster, sel, ns, err)
	}
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil {
			return pod.Name, nil
		}
	}
	return "", fmt.Errorf("%w: cluster %q: no running tiller pod (labels %s) in namespace %q", release.ErrClusterUnavailable, p.Cluster, sel, ns)
}

func (p *PortForward) open(ctx context.Context) (*forward, error) {
	cs, err := kubernetes.NewForConfig(p.REST)
	if err != nil {
		return nil, err
	}
	pod, err := p.pod(ctx, cs)
	if err != nil {
		return nil, err
	}
	// The forward outlives this call: its own streams must not carry a
	// client-wide timeout.
	rc := rest.CopyConfig(p.REST)
	rc.Timeout = 0
	rt, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		return nil, err
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.namespace()).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	port := p.Port
	if port == 0 {
		port = DefaultPort
	}
	f := &forward{pod: pod, stop: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, f.stop, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, err
	}
	go func() {
		f.err = pf.ForwardPorts()
		close(f.done)
	}()
	select {
	case <-ready:
	case <-f.done:
		return nil, fmt.Errorf("%w: cluster %q: port-forward to tiller pod %s/%s: %v", release.ErrClusterUnavailable, p.Cluster, p.namespace(), pod, f.err)
	case <-ctx.Done():
		close(f.stop)
		<-f.done
		return nil, fmt.Errorf("%w: cluster %q: port-forward to tiller pod %s/%s: %w", release.ErrClusterUnavailable, p.Cluster, p.namespace(), pod, ctx.Err())
	case <-time.After(30 * time.Second):
		close(f.stop)
		<-f.done
		return nil, fmt.Errorf("%w: cluster %q: port-forward to tiller pod %s/%s not ready after 30s", release.ErrClusterUnavailable, p.Cluster, p.namespace(), pod)
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		close(f.stop)
		<-f.done
		return nil, fmt.Errorf("port-forward to tiller pod %s/%s: no local port: %v", p.namespace(), pod, err)
	}
	f.local = fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
	return f, nil
}
