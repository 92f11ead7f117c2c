package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// APIServerOptions configures StartAPIServer.
type APIServerOptions struct {
	// Name is the cluster's (and the kubeconfig context's) name.
	Name string
	// Dir holds the server's etcd data, certificates, token file and log.
	Dir string
	// Binary is the kube-apiserver from BuildAPIServer.
	Binary string
	// Log receives progress lines; the server's own output goes to Dir/apiserver.log.
	Log io.Writer
	// Port is the secure port; 0 picks a free one. Restart reuses it.
	Port int
}

// APIServer is a running kube-apiserver with its embedded etcd.
type APIServer struct {
	Name           string
	URL            string
	Dir            string
	KubeconfigPath string
	// Token is the bearer token of an admin in group system:masters.
	Token string
	// TokenFile and CAFile hold the token and the CA certificate, for
	// configs that name files rather than a kubeconfig.
	TokenFile, CAFile string

	opts APIServerOptions
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartAPIServer starts a kube-apiserver and waits until it is ready.
func StartAPIServer(ctx context.Context, opts APIServerOptions) (*APIServer, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Name == "" {
		opts.Name = "local"
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := writePKI(opts.Dir); err != nil {
		return nil, fmt.Errorf("write certificates: %w", err)
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	s := &APIServer{
		Name:      opts.Name,
		Dir:       opts.Dir,
		Token:     hex.EncodeToString(tok),
		TokenFile: filepath.Join(opts.Dir, "admin.token"),
		CAFile:    filepath.Join(opts.Dir, "ca.crt"),
		opts:      opts,
	}
	if err := os.WriteFile(s.TokenFile, []byte(s.Token+"\n"), 0o600); err != nil {
		return nil, err
	}
	// kube-apiserver's static token file: token,user,uid,"group1,group2"
	line := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n", s.Token)
	if err := os.WriteFile(filepath.Join(opts.Dir, "tokens.csv"), []byte(line), 0o600); err != nil {
		return nil, err
	}
	if opts.Port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		s.opts.Port = p
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(s.opts.Port)
	if err := s.writeKubeconfig(); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *APIServer) writeKubeconfig() error {
	s.KubeconfigPath = filepath.Join(s.Dir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[s.Name] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthority: s.CAFile}
	cfg.AuthInfos["admin@"+s.Name] = &clientcmdapi.AuthInfo{Token: s.Token}
	cfg.Contexts[s.Name] = &clientcmdapi.Context{Cluster: s.Name, AuthInfo: "admin@" + s.Name}
	cfg.CurrentContext = s.Name
	return clientcmd.WriteToFile(*cfg, s.KubeconfigPath)
}

func (s *APIServer) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cport, err := freePort()
	if err != nil {
		return err
	}
	pport, err := freePort()
	if err != nil {
		return err
	}
	d := s.Dir
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.opts.Port),
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + filepath.Join(d, "server.crt"),
		"--tls-private-key-file=" + filepath.Join(d, "server.key"),
		"--token-auth-file=" + filepath.Join(d, "tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(d, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(d, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	}
	cmd := exec.Command(s.opts.Binary, args...)
	cmd.Env = append(os.Environ(),
		"ETCD_DATA_DIR="+filepath.Join(d, "etcd"),
		"ETCD_CLIENT_PORT="+strconv.Itoa(cport),
		"ETCD_PEER_PORT="+strconv.Itoa(pport),
	)
	// The server must not outlive whoever started it, even on a crash.
	done, err := StartLogged(cmd, filepath.Join(d, "apiserver.log"))
	if err != nil {
		return err
	}
	s.cmd, s.done = cmd, done
	fmt.Fprintf(s.opts.Log, "starting API server %s at %s\n", s.Name, s.URL)
	return s.waitReady(ctx, done)
}

func (s *APIServer) waitReady(ctx context.Context, exited <-chan struct{}) error {
	hc, err := rest.HTTPClientFor(s.RESTConfig())
	if err != nil {
		return err
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("kube-apiserver %s exited during start; see %s", s.Name, filepath.Join(s.Dir, "apiserver.log"))
		case <-ctx.Done():
			s.Stop()
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("kube-apiserver %s not ready after 120s; see %s", s.Name, filepath.Join(s.Dir, "apiserver.log"))
		}
	}
}

// RESTConfig returns an admin client configuration for the server.
func (s *APIServer) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     s.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile},
		QPS:             200,
		Burst:           400,
	}
}

// Stop ends the server and waits for it to exit. It is safe to call twice.
func (s *APIServer) Stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	return nil
}

// Restart starts a stopped server again on the same port with the same data.
func (s *APIServer) Restart(ctx context.Context) error {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return errors.New("api server is running")
	}
	return s.start(ctx)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
