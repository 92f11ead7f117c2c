package clusters_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
)

// testKubeconfig has two contexts on two clusters; prod's name needs
// sanitizing to be a cluster name.
const testKubeconfig = `apiVersion: v1
kind: Config
current-context: staging
clusters:
- name: prod-cluster
  cluster:
    server: https://prod.example.com:6443
    insecure-skip-tls-verify: true
- name: staging-cluster
  cluster:
    server: https://staging.example.com:6443
    insecure-skip-tls-verify: true
users:
- name: prod-admin
  user:
    token: prod-token
- name: staging-admin
  user:
    token: staging-token
contexts:
- name: Kind_Prod@EU
  context:
    cluster: prod-cluster
    user: prod-admin
- name: staging
  context:
    cluster: staging-cluster
    user: staging-admin
`

// writeFile writes content to name in a temporary directory removed after the test.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := writeFile(t, dir, "kubeconfig", testKubeconfig)
	token := writeFile(t, dir, "token", "secret-token\n")
	ca := writeFile(t, dir, "ca.crt", "-----BEGIN CERTIFICATE-----\n")
	missing := filepath.Join(dir, "missing")

	byKubeconfig := clusters.Config{Name: "east", Driver: "helm", Kubeconfig: kubeconfig, Context: "staging"}
	byServer := clusters.Config{Name: "west", Driver: "helm", Server: "https://10.0.0.1:6443", TokenFile: token, CAFile: ca}
	// with returns a copy of byServer named "bad" after applying f, to put
	// beside byKubeconfig at index 1.
	with := func(f func(c *clusters.Config)) []clusters.Config {
		c := byServer
		c.Name = "bad"
		f(&c)
		return []clusters.Config{byKubeconfig, c}
	}

	valid := []struct {
		name string
		cfgs []clusters.Config
	}{
		{"none", nil},
		{"kubeconfig", []clusters.Config{byKubeconfig}},
		{"kubeconfig, current context", []clusters.Config{{Name: "east", Driver: "helm", Kubeconfig: kubeconfig}}},
		{"server with token and CA", []clusters.Config{byServer}},
		{"server alone", []clusters.Config{{Name: "west", Driver: "helm", Server: "http://127.0.0.1:8080"}}},
		{"server, insecure", []clusters.Config{{Name: "west", Driver: "helm", Server: "https://10.0.0.1", TokenFile: token, InsecureSkipVerify: true}}},
		{"both, every option", []clusters.Config{
			{Name: "east.eu-1", Driver: "helm", Kubeconfig: kubeconfig, Storage: "configmap", Timeout: clusters.Duration(30 * time.Second)},
			{Name: "west", Driver: "helm", Server: "https://10.0.0.1:6443", Storage: "secret", Timeout: 0},
		}},
		{"tiller direct, no API server", []clusters.Config{{Name: "v2", Driver: "tiller", Address: "127.0.0.1:44134"}}},
		{"tiller direct with TLS", []clusters.Config{{Name: "v2", Driver: "tiller", Transport: "direct", Address: "tiller.example:44134",
			TLS: &clusters.TLSConfig{CAFile: ca, CertFile: token, KeyFile: token}}}},
		{"tiller port-forward by default", []clusters.Config{{Name: "v2", Driver: "tiller", Kubeconfig: kubeconfig, TillerNamespace: "helm", TillerLabels: "app=helm,name=tiller", TillerPort: 44134}}},
		{"swift direct", []clusters.Config{{Name: "sw", Driver: "swift", Address: "https://swift.example:9855"}}},
		{"swift service-proxy", []clusters.Config{{Name: "sw", Driver: "swift", Transport: "service-proxy", Kubeconfig: kubeconfig, SwiftService: "swift", SwiftPort: "http"}}},
	}
	for _, tt := range valid {
		t.Run("valid/"+tt.name, func(t *testing.T) {
			if err := clusters.Validate(tt.cfgs); err != nil {
				t.Errorf("Validate() error = %v, want nil", err)
			}
		})
	}

	invalid := []struct {
		name string
		cfgs []clusters.Config
		want []string // substrings of the error
	}{
		{"unknown driver", with(func(c *clusters.Config) { c.Driver = "helm2" }), []string{`clusters[1].driver: unknown driver "helm2"`, "known: helm"}},
		{"missing driver", with(func(c *clusters.Config) { c.Driver = "" }), []string{`clusters[1].driver: unknown driver ""`}},
		{"missing kubeconfig file", with(func(c *clusters.Config) { c.Server, c.TokenFile, c.CAFile, c.Kubeconfig = "", "", "", missing }), []string{"clusters[1].kubeconfig", missing, "not found"}},
		{"kubeconfig is a directory", with(func(c *clusters.Config) { c.Server, c.TokenFile, c.CAFile, c.Kubeconfig = "", "", "", dir }), []string{"clusters[1].kubeconfig", "directory"}},
		{"neither kubeconfig nor server", with(func(c *clusters.Config) { c.Server, c.TokenFile, c.CAFile = "", "", "" }), []string{"clusters[1].kubeconfig: missing"}},
		{"duplicate name", with(func(c *clusters.Config) { c.Name = "east" }), []string{`clusters[1].name: duplicate cluster name "east"`, "clusters[0]"}},
		{"missing name", with(func(c *clusters.Config) { c.Name = "" }), []string{"clusters[1].name: missing"}},
		{"upper-case name", with(func(c *clusters.Config) { c.Name = "West" }), []string{`clusters[1].name: "West" is not a valid name`}},
		{"name with underscore", with(func(c *clusters.Config) { c.Name = "west_1" }), []string{`clusters[1].name: "west_1"`}},
		{"name with slash", with(func(c *clusters.Config) { c.Name = "west/1" }), []string{`clusters[1].name: "west/1"`}},
		{"server without scheme", with(func(c *clusters.Config) { c.Server = "10.0.0.1:6443" }), []string{`clusters[1].server: "10.0.0.1:6443" is not an http(s) URL`}},
		{"server with another scheme", with(func(c *clusters.Config) { c.Server = "tcp://10.0.0.1:6443" }), []string{"clusters[1].server", "not an http(s) URL"}},
		{"kubeconfig and server", with(func(c *clusters.Config) { c.Kubeconfig = kubeconfig }), []string{"clusters[1].server: set either kubeconfig or server, not both"}},
		{"missing token file", with(func(c *clusters.Config) { c.TokenFile = missing }), []string{"clusters[1].tokenFile", missing}},
		{"missing CA file", with(func(c *clusters.Config) { c.CAFile = missing }), []string{"clusters[1].caFile", missing}},
		{"negative timeout", with(func(c *clusters.Config) { c.Timeout = clusters.Duration(-time.Second) }), []string{"clusters[1].timeout: must not be negative"}},
		{"unknown storage", with(func(c *clusters.Config) { c.Storage = "sql" }), []string{`clusters[1].storage: unknown storage "sql"`}},
		{"tiller port-forward without API server", []clusters.Config{{Name: "v2", Driver: "tiller"}}, []string{"clusters[0].kubeconfig: missing"}},
		{"unknown transport", []clusters.Config{{Name: "v2", Driver: "tiller", Transport: "service-proxy", Kubeconfig: kubeconfig}},
			[]string{`clusters[0].transport: unknown transport "service-proxy" for driver tiller (known: port-forward, direct)`}},
		{"direct without address", []clusters.Config{{Name: "v2", Driver: "tiller", Transport: "direct"}}, []string{"clusters[0].address: missing"}},
		{"address without port", []clusters.Config{{Name: "v2", Driver: "tiller", Address: "tiller.example"}}, []string{`clusters[0].address: "tiller.example" is not host:port`}},
		{"swift address not a URL", []clusters.Config{{Name: "sw", Driver: "swift", Address: "swift:9855"}}, []string{`clusters[0].address: "swift:9855" is not an http(s) URL`}},
		{"address with port-forward", []clusters.Config{{Name: "v2", Driver: "tiller", Transport: "port-forward", Kubeconfig: kubeconfig, Address: "a:1"}},
			[]string{"clusters[0].address: only for transport direct"}},
		{"bad selector", []clusters.Config{{Name: "v2", Driver: "tiller", Kubeconfig: kubeconfig, TillerLabels: "app in (a"}}, []string{"clusters[0].tillerLabels"}},
		{"missing TLS file", []clusters.Config{{Name: "v2", Driver: "tiller", Address: "a:1", TLS: &clusters.TLSConfig{CAFile: missing}}}, []string{"clusters[0].tls.caFile", missing}},
		{"TLS cert without key", []clusters.Config{{Name: "v2", Driver: "tiller", Address: "a:1", TLS: &clusters.TLSConfig{CertFile: token}}}, []string{"clusters[0].tls: set both certFile and keyFile"}},
		{"tiller fields on helm", with(func(c *clusters.Config) { c.Address = "a:1" }), []string{"clusters[1].address: only for the tiller and swift drivers"}},
		{"every error is reported", []clusters.Config{
			{Name: "a", Driver: "helm2", Server: "https://a"},
			{Name: "b", Driver: "helm", Timeout: clusters.Duration(-1)},
		}, []string{"clusters[0].driver", "clusters[1].kubeconfig", "clusters[1].timeout"}},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			err := clusters.Validate(tt.cfgs)
			if err == nil {
				t.Fatalf("Validate() error = nil, want one naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() error = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "clusters[0].") && !strings.Contains(tt.want[0], "clusters[0]") {
				t.Errorf("Validate() error = %q blames clusters[0], which is valid", err)
			}
		})
	}
}

func TestFromKubeconfig(t *testing.T) {
	path := writeFile(t, t.TempDir(), "config", testKubeconfig)
	got, err := clusters.FromKubeconfig(path)
	if err != nil {
		t.Fatalf("FromKubeconfig() error = %v", err)
	}
	want := []clusters.Config{
		{Name: "kind-prod-eu", Driver: "helm", Kubeconfig: path, Context: "Kind_Prod@EU"},
		{Name: "staging", Driver: "helm", Kubeconfig: path, Context: "staging"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromKubeconfig() =\n%+v\nwant\n%+v", got, want)
	}
	if err := clusters.Validate(got); err != nil {
		t.Errorf("Validate(FromKubeconfig()) error = %v, want nil", err)
	}

	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope")
		if _, err := clusters.FromKubeconfig(missing); err == nil || !strings.Contains(err.Error(), "kubeconfig") {
			t.Errorf("FromKubeconfig(%q) error = %v, want one about the kubeconfig", missing, err)
		}
	})
	t.Run("KUBECONFIG when no path is given", func(t *testing.T) {
		t.Setenv("KUBECONFIG", path)
		got, err := clusters.FromKubeconfig("")
		if err != nil {
			t.Fatalf("FromKubeconfig(\"\") error = %v", err)
		}
		if len(got) != 2 || got[0].Kubeconfig == "" || got[1].Context != "staging" {
			t.Errorf("FromKubeconfig(\"\") = %+v, want both contexts of $KUBECONFIG", got)
		}
	})
}

func TestRESTConfig(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := writeFile(t, dir, "kubeconfig", testKubeconfig)
	token := writeFile(t, dir, "token", "secret-token\n")
	ca := writeFile(t, dir, "ca.crt", "not read until a connection is made\n")

	type view struct {
		Host, BearerToken, BearerTokenFile, CAFile string
		Insecure                                   bool
		Timeout                                    time.Duration
	}
	tests := []struct {
		name string
		cfg  clusters.Config
		want view
	}{
		{"kubeconfig and context", clusters.Config{Name: "prod", Kubeconfig: kubeconfig, Context: "Kind_Prod@EU"},
			view{Host: "https://prod.example.com:6443", BearerToken: "prod-token", Insecure: true, Timeout: clusters.DefaultTimeout}},
		{"kubeconfig, current context", clusters.Config{Name: "staging", Kubeconfig: kubeconfig, Timeout: clusters.Duration(3 * time.Second)},
			view{Host: "https://staging.example.com:6443", BearerToken: "staging-token", Insecure: true, Timeout: 3 * time.Second}},
		{"server, token file and CA file", clusters.Config{Name: "west", Server: "https://10.0.0.1:6443", TokenFile: token, CAFile: ca},
			view{Host: "https://10.0.0.1:6443", BearerTokenFile: token, CAFile: ca, Timeout: clusters.DefaultTimeout}},
		{"server, insecure", clusters.Config{Name: "west", Server: "https://10.0.0.1:6443", InsecureSkipVerify: true, Timeout: clusters.Duration(time.Minute)},
			view{Host: "https://10.0.0.1:6443", Insecure: true, Timeout: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := tt.cfg.RESTConfig()
			if err != nil {
				t.Fatalf("RESTConfig() error = %v", err)
			}
			got := view{rc.Host, rc.BearerToken, rc.BearerTokenFile, rc.TLSClientConfig.CAFile, rc.TLSClientConfig.Insecure, rc.Timeout}
			if got != tt.want {
				t.Errorf("RESTConfig() =\n%+v\nwant\n%+v", got, tt.want)
			}
			if rc.UserAgent != "helmgraph" || rc.QPS <= 5 || rc.Burst <= 10 {
				t.Errorf("RESTConfig() UserAgent, QPS, Burst = %q, %v, %d; want helmgraph and more than client-go's defaults", rc.UserAgent, rc.QPS, rc.Burst)
			}
		})
	}

	t.Run("unknown context", func(t *testing.T) {
		cfg := clusters.Config{Name: "prod", Kubeconfig: kubeconfig, Context: "nope"}
		_, err := cfg.RESTConfig()
		if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), `"prod"`) {
			t.Errorf("RESTConfig() error = %v, want one naming the cluster and the context", err)
		}
	})
}

func TestDurationJSON(t *testing.T) {
	for _, d := range []time.Duration{0, 1500 * time.Millisecond, 10 * time.Second, 2 * time.Hour} {
		b, err := json.Marshal(clusters.Duration(d))
		if err != nil {
			t.Fatalf("Marshal(%s) error = %v", d, err)
		}
		var got clusters.Duration
		if err := json.Unmarshal(b, &got); err != nil || time.Duration(got) != d {
			t.Errorf("Unmarshal(Marshal(%s)) = %s (JSON %s), %v; want %s", d, time.Duration(got), b, err, d)
		}
	}
}
