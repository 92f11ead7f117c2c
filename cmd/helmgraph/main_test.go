package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
)

const kubeconfigYAML = `apiVersion: v1
kind: Config
current-context: east
clusters:
- name: east
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: t
contexts:
- name: east
  context:
    cluster: east
    user: admin
`

// configDir makes a directory holding the files a config refers to and
// writes config as helmgraph.yaml in it; it returns the config's path.
func configDir(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"kube/config":    kubeconfigYAML,
		"secrets/token":  "token\n",
		"secrets/ca.crt": selfSignedCA(t),
		"helmgraph.yaml": config,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "helmgraph.yaml")
}

// selfSignedCA is a PEM CA certificate: client-go parses the CA file when
// the driver is built.
func selfSignedCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "helmgraph test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestLoadConfig(t *testing.T) {
	path := configDir(t, `
listen: 127.0.0.1:9090
clusters:
- name: east
  driver: helm
  kubeconfig: kube/config
  context: east
  timeout: 5s
- name: west
  driver: helm
  server: https://10.0.0.1:6443
  tokenFile: ./secrets/token
  caFile: secrets/../secrets/ca.crt
- name: north
  driver: helm
  kubeconfig: /etc/helmgraph/north.yaml
`)
	dir := filepath.Dir(path)
	got, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig() error = %v", err)
	}
	want := fileConfig{
		Listen: "127.0.0.1:9090",
		Clusters: []clusters.Config{
			{Name: "east", Driver: "helm", Kubeconfig: filepath.Join(dir, "kube", "config"), Context: "east", Timeout: clusters.Duration(5 * time.Second)},
			{Name: "west", Driver: "helm", Server: "https://10.0.0.1:6443", TokenFile: filepath.Join(dir, "secrets", "token"), CAFile: filepath.Join(dir, "secrets", "ca.crt")},
			{Name: "north", Driver: "helm", Kubeconfig: "/etc/helmgraph/north.yaml"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loadConfig() =\n%+v\nwant (relative paths joined to the config's directory, absolute ones kept)\n%+v", got, want)
	}
}

func TestLoadConfigHomeDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	path := configDir(t, "clusters:\n- name: east\n  driver: helm\n  kubeconfig: ~/.kube/config\n- name: west\n  driver: helm\n  server: https://10.0.0.1\n  tokenFile: ~user/token\n")
	fc, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig() error = %v", err)
	}
	if got, want := fc.Clusters[0].Kubeconfig, filepath.Join(home, ".kube", "config"); got != want {
		t.Errorf("kubeconfig ~/.kube/config = %q, want %q", got, want)
	}
	// Only ~/ is expanded; ~user is a relative path like any other.
	if got, want := fc.Clusters[1].TokenFile, filepath.Join(filepath.Dir(path), "~user", "token"); got != want {
		t.Errorf("tokenFile ~user/token = %q, want %q", got, want)
	}
}

// A relative config path resolves the files it names against the config's
// directory, not the working directory.
func TestLoadConfigRelativeConfigPath(t *testing.T) {
	path := configDir(t, "clusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/config\n")
	t.Chdir(filepath.Dir(filepath.Dir(path)))
	rel := filepath.Join(filepath.Base(filepath.Dir(path)), "helmgraph.yaml")
	fc, err := loadConfig(rel)
	if err != nil {
		t.Fatalf("loadConfig(%q) error = %v", rel, err)
	}
	if got, want := fc.Clusters[0].Kubeconfig, filepath.Join(filepath.Dir(rel), "kube", "config"); got != want {
		t.Errorf("kubeconfig = %q, want %q", got, want)
	}
	if err := clusters.Validate(fc.Clusters); err != nil {
		t.Errorf("Validate() error = %v, want nil: the kubeconfig next to the config exists", err)
	}
}

// serve runs the real path: flags, loadConfig, then clusters.Open, which
// validates. Every invalid config fails before serve listens.
func TestServeInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string // substrings of the error; $DIR is the config's directory
	}{
		{"unknown top-level field", "listn: :8080\nclusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/config\n", []string{`unknown field "listn"`, "helmgraph.yaml"}},
		{"unknown cluster field", "clusters:\n- name: east\n  driver: helm\n  kubeconfg: kube/config\n", []string{`unknown field "kubeconfg"`}},
		{"timeout without unit", "clusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/config\n  timeout: 10\n", []string{"clusters.timeout", `"10"`}},
		{"no clusters", "listen: 127.0.0.1:0\n", []string{"clusters: at least one cluster is needed"}},
		{"empty cluster list", "clusters: []\n", []string{"clusters: at least one cluster is needed"}},
		{"unknown driver", "clusters:\n- name: east\n  driver: helm2\n  kubeconfig: kube/config\n", []string{`clusters[0].driver: unknown driver "helm2"`}},
		{"missing kubeconfig file", "clusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/nope\n", []string{"clusters[0].kubeconfig", `file "$DIR/kube/nope" not found`}},
		{"missing token file", "clusters:\n- name: east\n  driver: helm\n  server: https://10.0.0.1\n  tokenFile: secrets/nope\n", []string{"clusters[0].tokenFile", `file "$DIR/secrets/nope" not found`}},
		{"duplicate name", "clusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/config\n- name: east\n  driver: helm\n  server: https://10.0.0.1\n", []string{`clusters[1].name: duplicate cluster name "east"`}},
		{"invalid name", "clusters:\n- name: East_1\n  driver: helm\n  kubeconfig: kube/config\n", []string{`clusters[0].name: "East_1"`}},
		{"server not a URL", "clusters:\n- name: east\n  driver: helm\n  server: 10.0.0.1:6443\n", []string{`clusters[0].server: "10.0.0.1:6443"`}},
		{"kubeconfig and server", "clusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/config\n  server: https://10.0.0.1\n", []string{"clusters[0].server: set either kubeconfig or server"}},
		{"negative timeout", "clusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/config\n  timeout: -5s\n", []string{"clusters[0].timeout: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := configDir(t, tt.config)
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // serve must not get as far as serving
			err := serve(ctx, []string{"--config", path, "--listen", "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatalf("serve() error = nil, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "$DIR", filepath.Dir(path))
				if !strings.Contains(err.Error(), w) {
					t.Errorf("serve() error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestServeMissingConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	err := serve(t.Context(), []string{"--config", path}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), path) || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("serve() error = %v, want a not-exist error naming %s", err, path)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// A valid config with relative paths opens its clusters (which contacts none
// of them) and serves until the context ends.
func TestServeValidConfig(t *testing.T) {
	path := configDir(t, `
clusters:
- name: east
  driver: helm
  kubeconfig: kube/config
- name: west
  driver: helm
  server: https://127.0.0.1:1
  tokenFile: secrets/token
  caFile: secrets/ca.crt
  storage: configmap
  timeout: 1s
`)
	t.Chdir(t.TempDir()) // relative paths must not depend on the working directory
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := serve(ctx, []string{"--config", path, "--listen", "127.0.0.1:0"}, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("serve() with a valid config and a cancelled context: error = %v, want nil", err)
	}
}

func TestServeBadFlag(t *testing.T) {
	err := serve(t.Context(), []string{"--cofig", "x.yaml"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "cofig") {
		t.Errorf("serve() error = %v, want one naming the unknown flag", err)
	}
}
