package localcluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TillerVersion is the version the Tiller test component reports: the
// k8s.io/helm release tools/tiller builds from.
const TillerVersion = "v2.17.0"

// TillerNamespace is where Tiller keeps its release ConfigMaps.
const TillerNamespace = "kube-system"

// BuildTiller builds (or finds cached) the Tiller test component, reporting
// TillerVersion.
func BuildTiller(ctx context.Context, log io.Writer) (string, error) {
	return BuildTillerVersion(ctx, TillerVersion, log)
}

// BuildTillerVersion builds Tiller stamped with another version, e.g. an
// older one to test what a client newer than its Tiller sees. Only the link
// step differs from BuildTiller's, so it is quick once that has run.
func BuildTillerVersion(ctx context.Context, version string, log io.Writer) (string, error) {
	if !strings.HasPrefix(version, "v2.") {
		return "", fmt.Errorf("tiller version %q: want v2.x.y", version)
	}
	// An empty BuildMetadata makes the version a release's ("v2.17.0"),
	// not "v2.17+unreleased", which Tiller would accept any client against.
	ld := "-X k8s.io/helm/pkg/version.Version=" + version + " -X k8s.io/helm/pkg/version.BuildMetadata= -X k8s.io/helm/pkg/version.GitTreeState=clean"
	return BuildTool(ctx, "tiller", ld, log)
}

// TillerTLS is Tiller's own TLS setup (--tls-verify): a serving certificate
// and the CA its clients' certificates must be signed by.
type TillerTLS struct {
	CertFile, KeyFile, CAFile string
}

// TillerOptions configures StartTiller.
type TillerOptions struct {
	// Binary is the tiller from BuildTiller.
	Binary string
	// Dir receives tiller.log.
	Dir string
	// Kubeconfig points at the API server Tiller stores its releases in.
	Kubeconfig string
	// Log receives progress lines.
	Log io.Writer
	// Port is the gRPC port on 127.0.0.1; 0 picks a free one.
	Port int
	// TLS, when set, makes Tiller serve TLS and require client certificates.
	TLS *TillerTLS
	// Storage is Tiller's release storage: "configmap" (the default, in
	// TillerNamespace) or "memory" (a Tiller whose releases no other
	// Tiller on the same API server sees).
	Storage string
}

// Tiller is a running Tiller.
type Tiller struct {
	// Addr is its gRPC address, 127.0.0.1:port.
	Addr string
	opts TillerOptions
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartTiller starts Tiller against the API server of opts.Kubeconfig, making
// sure its storage namespace exists there, and waits until its gRPC port
// answers.
func StartTiller(ctx context.Context, opts TillerOptions) (*Tiller, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Binary == "" || opts.Kubeconfig == "" || opts.Dir == "" {
		return nil, fmt.Errorf("start tiller: Binary, Kubeconfig and Dir are required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("start tiller: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: TillerNamespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("start tiller: create namespace %s: %w", TillerNamespace, err)
	}
	if opts.Port == 0 {
		if opts.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	t := &Tiller{Addr: "127.0.0.1:" + strconv.Itoa(opts.Port), opts: opts}
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tiller) start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	storage := t.opts.Storage
	if storage == "" {
		storage = "configmap"
	}
	args := []string{"--listen", t.Addr, "--probe=false", "--storage=" + storage}
	if tl := t.opts.TLS; tl != nil {
		args = append(args, "--tls-verify", "--tls-cert="+tl.CertFile, "--tls-key="+tl.KeyFile, "--tls-ca-cert="+tl.CAFile)
	}
	logPath := filepath.Join(t.opts.Dir, "tiller.log")
	cmd := exec.Command(t.opts.Binary, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+t.opts.Kubeconfig, "TILLER_NAMESPACE="+TillerNamespace)
	// The server must not outlive whoever started it, even on a crash.
	done, err := StartLogged(cmd, logPath)
	if err != nil {
		return err
	}
	t.cmd, t.done = cmd, done
	fmt.Fprintf(t.opts.Log, "starting tiller at %s\n", t.Addr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Tiller listens only once its Kubernetes client is set up, and
		// registers its services before it accepts: a connection means ready.
		if c, err := net.DialTimeout("tcp", t.Addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			t.cmd = nil
			return fmt.Errorf("tiller exited during start; see %s", logPath)
		case <-ctx.Done():
			t.stopLocked()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.stopLocked()
			return fmt.Errorf("tiller not listening after 60s; see %s", logPath)
		}
	}
}

// Stop ends Tiller and waits for it to exit. It is safe to call twice.
func (t *Tiller) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked()
}

func (t *Tiller) stopLocked() {
	cmd, done := t.cmd, t.done
	t.cmd = nil
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Restart starts a stopped Tiller again on the same address.
func (t *Tiller) Restart(ctx context.Context) error {
	t.mu.Lock()
	running := t.cmd != nil
	t.mu.Unlock()
	if running {
		return fmt.Errorf("tiller is running")
	}
	return t.start(ctx)
}

// TLSFiles are the files WriteTillerPKI writes.
type TLSFiles struct {
	CAFile                    string
	ServerCertFile, ServerKey string
	ClientCertFile, ClientKey string
}

// WriteTillerPKI writes a CA, a serving certificate for 127.0.0.1 and a
// client certificate, both signed by it, into dir, as `helm init
// --tiller-tls-verify` setups use.
func WriteTillerPKI(dir string) (TLSFiles, error) {
	f := TLSFiles{
		CAFile:         filepath.Join(dir, "tiller-ca.crt"),
		ServerCertFile: filepath.Join(dir, "tiller.crt"), ServerKey: filepath.Join(dir, "tiller.key"),
		ClientCertFile: filepath.Join(dir, "helm.crt"), ClientKey: filepath.Join(dir, "helm.key"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tiller-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return f, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := os.WriteFile(f.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		return f, err
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certFile, keyFile string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			return err
		}
		return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	}
	if err := leaf(2, "tiller-server", x509.ExtKeyUsageServerAuth, f.ServerCertFile, f.ServerKey); err != nil {
		return f, err
	}
	return f, leaf(3, "helm-client", x509.ExtKeyUsageClientAuth, f.ClientCertFile, f.ClientKey)
}
