package localcluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
)

// NodeAgent answers the kubelet's port-forward endpoint
// (POST /portForward/{namespace}/{pod}) on 127.0.0.1 over TLS, as a kubelet
// does for the API server's pods/portforward, and connects each forwarded
// stream to a local address registered for the pod. There are no containers:
// the "pod" is a process on this machine (Tiller). This is what Kubernetes'
// own port-forward integration test does.
type NodeAgent struct {
	// Port is the agent's TLS port on 127.0.0.1 (the Node's kubelet port).
	Port int

	mu      sync.Mutex
	targets map[string]string // "namespace/pod" -> host:port
	srv     *http.Server
	cert    tls.Certificate
	// conns are the streams being forwarded, closed by Stop.
	conns map[io.Closer]struct{}
}

// StartNodeAgent starts an agent on a free port.
func StartNodeAgent() (*NodeAgent, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	a := &NodeAgent{targets: map[string]string{}, cert: cert, conns: map[io.Closer]struct{}{}}
	if a.Port, err = freePort(); err != nil {
		return nil, err
	}
	return a, a.Start()
}

// Forward makes port-forwards to namespace/pod reach addr, whatever pod port
// is asked for.
func (a *NodeAgent) Forward(namespace, pod, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.targets[namespace+"/"+pod] = addr
}

// Start (re)starts the agent on its port.
func (a *NodeAgent) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		return fmt.Errorf("node agent is running")
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(a.Port))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/portForward/{namespace}/{pod}", func(w http.ResponseWriter, r *http.Request) {
		ns, pod := r.PathValue("namespace"), r.PathValue("pod")
		a.mu.Lock()
		addr, ok := a.targets[ns+"/"+pod]
		a.mu.Unlock()
		if !ok {
			http.Error(w, fmt.Sprintf("pod %s/%s is not on this node", ns, pod), http.StatusNotFound)
			return
		}
		opts, err := portforward.NewV4Options(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforward.ServePortForward(w, r, forwarder{a: a, addr: addr}, pod, "", opts, 4*time.Hour, 30*time.Second, portforward.SupportedProtocols)
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{a.cert}}, ReadHeaderTimeout: 10 * time.Second,
		// The API server's upgraded (hijacked) connections outlive
		// srv.Close: track them so that Stop cuts them too.
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				a.track(c, true)
			case http.StateClosed:
				a.track(c, false)
			}
		}}
	a.srv = srv
	go srv.ServeTLS(l, "", "")
	return nil
}

// Stop closes the listener and every forwarded connection, as a kubelet
// restart would: port-forwards through it drop.
func (a *NodeAgent) Stop() {
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	conns := a.conns
	a.conns = map[io.Closer]struct{}{}
	a.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	for c := range conns {
		c.Close()
	}
}

func (a *NodeAgent) track(c io.Closer, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if on {
		a.conns[c] = struct{}{}
	} else {
		delete(a.conns, c)
	}
}

type forwarder struct {
	a    *NodeAgent
	addr string
}

// PortForward copies one forwarded stream to the pod's local address.
func (f forwarder) PortForward(ctx context.Context, pod, uid string, port int32, stream io.ReadWriteCloser) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", f.addr)
	if err != nil {
		return fmt.Errorf("pod %s port %d: %w", pod, port, err)
	}
	f.a.track(c, true)
	f.a.track(stream, true)
	defer f.a.track(c, false)
	defer f.a.track(stream, false)
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(c, stream); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(stream, c); done <- struct{}{} }()
	<-done
	return nil
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "helmgraph-node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// NodeName is the Node the node agent stands for.
const NodeName = "helmgraph-node"

// RegisterNode creates (or updates) the Node whose kubelet is the agent:
// InternalIP 127.0.0.1, kubelet port a.Port, Ready.
func RegisterNode(ctx context.Context, rc *rest.Config, a *NodeAgent) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", NodeName, err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(a.Port)
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), Reason: "KubeletReady"}}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node %s status: %w", NodeName, err)
	}
	return nil
}

// TillerPodName is the pod RegisterTillerPod creates.
const TillerPodName = "tiller-deploy-0"

// RegisterTillerPod creates a Running pod labelled as `helm init` labels
// Tiller's (app=helm, name=tiller) in kube-system on the agent's Node, and
// makes the agent forward its port to the Tiller at addr.
func RegisterTillerPod(ctx context.Context, rc *rest.Config, a *NodeAgent, addr string) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	// Pods need their namespace's default ServiceAccount; no controller makes it.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: TillerNamespace}}
	if _, err := cs.CoreV1().ServiceAccounts(TillerNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: TillerPodName, Namespace: TillerNamespace, Labels: map[string]string{"app": "helm", "name": "tiller"}},
		Spec: corev1.PodSpec{NodeName: NodeName, Containers: []corev1.Container{{
			Name: "tiller", Image: "ghcr.io/helm/tiller:" + TillerVersion,
			Ports: []corev1.ContainerPort{{Name: "tiller", ContainerPort: 44134}},
		}}},
	}
	p, err := cs.CoreV1().Pods(TillerNamespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		p, err = cs.CoreV1().Pods(TillerNamespace).Get(ctx, TillerPodName, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("tiller pod: %w", err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP, p.Status.PodIPs = "", nil
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := cs.CoreV1().Pods(TillerNamespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("tiller pod status: %w", err)
	}
	a.Forward(TillerNamespace, TillerPodName, addr)
	return nil
}
