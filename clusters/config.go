package clusters

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Config describes one cluster. Credentials come either from a kubeconfig
// (path + context) or from an API server URL with a bearer token file and a
// CA file; helmgraph never returns or logs them.
type Config struct {
	// Name identifies the cluster in the graph; unique.
	Name string `json:"name"`
	// Driver is how to reach its releases: "helm" (Helm 3/4 storage through
	// the API server), "tiller" (Helm v2's Tiller over gRPC) or "swift"
	// (appscode/swift's HTTP/JSON gateway over Tiller).
	Driver string `json:"driver"`
	// Kubeconfig and Context select credentials from a kubeconfig file;
	// an empty Context means the file's current context.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	// Server, TokenFile and CAFile are the alternative to a kubeconfig.
	Server             string `json:"server,omitempty"`
	TokenFile          string `json:"tokenFile,omitempty"`
	CAFile             string `json:"caFile,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
	// Storage is Helm's storage driver: "secret" (default) or "configmap".
	Storage string `json:"storage,omitempty"`
	// Timeout bounds every call to the cluster; 10s by default.
	Timeout Duration `json:"timeout,omitempty"`
	// Impersonate makes calls of the helm driver on behalf of a request go
	// to the API server as the caller (Impersonate-User/-Group), so the
	// cluster's RBAC applies too; helmgraph's credentials need the
	// "impersonate" verb. The release cache still syncs as helmgraph.
	Impersonate bool `json:"impersonate,omitempty"`

	// Transport says how the tiller and swift drivers reach their server:
	// "direct" (at Address) or through the cluster's API server
	// ("port-forward" to the Tiller pod, "service-proxy" to swift's
	// Service). Default: direct when Address is set, else through the API
	// server.
	Transport string `json:"transport,omitempty"`
	// Address is Tiller's host:port, or swift's base URL, for direct.
	Address string `json:"address,omitempty"`
	// TLS is the client side of Tiller's --tls-verify setup (tiller), or
	// the trust and client certificate for an https swift URL (swift).
	TLS *TLSConfig `json:"tls,omitempty"`
	// TillerNamespace is where the Tiller pod (port-forward) or swift's
	// Service (service-proxy) runs; kube-system by default.
	TillerNamespace string `json:"tillerNamespace,omitempty"`
	// TillerLabels selects the Tiller pod; "app=helm,name=tiller" by default.
	TillerLabels string `json:"tillerLabels,omitempty"`
	// TillerPort is Tiller's gRPC port in its pod; 44134 by default.
	TillerPort int `json:"tillerPort,omitempty"`
	// SwiftService names swift's Service; by default the one in
	// TillerNamespace labelled kubernetes.io/cluster-service=true.
	SwiftService string `json:"swiftService,omitempty"`
	// SwiftPort is the Service's port, by name or number; by default its
	// first port.
	SwiftPort string `json:"swiftPort,omitempty"`
}

// TLSConfig holds file paths of TLS material.
type TLSConfig struct {
	CAFile   string `json:"caFile,omitempty"`
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName         string `json:"serverName,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// Transports of the tiller and swift drivers.
const (
	TransportDirect       = "direct"
	TransportPortForward  = "port-forward"
	TransportServiceProxy = "service-proxy"
)

// transports lists each driver's transports, the default (through the API
// server) first.
var transports = map[string][]string{
	"tiller": {TransportPortForward, TransportDirect},
	"swift":  {TransportServiceProxy, TransportDirect},
}

// EffectiveTransport is the transport a cluster uses: the configured one,
// else direct when an address is set, else through the API server. It is
// empty for the helm driver, which always talks to the API server.
func (c Config) EffectiveTransport() string {
	ts, ok := transports[c.Driver]
	switch {
	case !ok:
		return ""
	case c.Transport != "":
		return c.Transport
	case c.Address != "":
		return TransportDirect
	}
	return ts[0]
}

// needsAPIServer says whether the cluster's driver reaches it through its
// API server, and so needs its credentials.
func (c Config) needsAPIServer() bool {
	return c.EffectiveTransport() != TransportDirect
}

// Duration is a time.Duration written as "10s" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // an empty `timeout:` keeps the default, as encoding/json does for null
	}
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		// encoding/json adds the field's path (clusters.timeout) to an
		// UnmarshalTypeError, and to no other error.
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%q (not a duration such as \"10s\")", s), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// DefaultTimeout bounds each call to a cluster when its config sets none.
const DefaultTimeout = 10 * time.Second

// Drivers lists the driver names this build knows.
var Drivers = []string{"helm", "tiller", "swift"}

// Validate checks every cluster's config and names the field at fault, e.g.
// `clusters[1].driver: unknown driver "helm2" (known: helm)`.
func Validate(cfgs []Config) error {
	var errs []error
	seen := map[string]int{}
	for i, c := range cfgs {
		field := func(f string) string { return fmt.Sprintf("clusters[%d].%s", i, f) }
		switch {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("%s: missing", field("name")))
		case len(validation.IsDNS1123Subdomain(c.Name)) > 0:
			errs = append(errs, fmt.Errorf("%s: %q is not a valid name (lower-case letters, digits, '-' and '.')", field("name"), c.Name))
		default:
			if j, dup := seen[c.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: duplicate cluster name %q (also clusters[%d])", field("name"), c.Name, j))
			}
			seen[c.Name] = i
		}
		if !slices.Contains(Drivers, c.Driver) {
			errs = append(errs, fmt.Errorf("%s: unknown driver %q (known: %s)", field("driver"), c.Driver, strings.Join(Drivers, ", ")))
		}
		switch c.Storage {
		case "", "secret", "configmap":
		default:
			errs = append(errs, fmt.Errorf("%s: unknown storage %q (known: secret, configmap)", field("storage"), c.Storage))
		}
		if c.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", field("timeout")))
		}
		errs = append(errs, c.validateTransport(field)...)
		switch {
		case c.Kubeconfig != "" && c.Server != "":
			errs = append(errs, fmt.Errorf("%s: set either kubeconfig or server, not both", field("server")))
		case c.Kubeconfig != "":
			if err := fileExists(c.Kubeconfig); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", field("kubeconfig"), err))
			}
		case c.Server != "":
			if !strings.HasPrefix(c.Server, "https://") && !strings.HasPrefix(c.Server, "http://") {
				errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", field("server"), c.Server))
			}
			for f, p := range map[string]string{"tokenFile": c.TokenFile, "caFile": c.CAFile} {
				if p == "" {
					continue
				}
				if err := fileExists(p); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", field(f), err))
				}
			}
		case c.needsAPIServer():
			errs = append(errs, fmt.Errorf("%s: missing (or set server)", field("kubeconfig")))
		}
	}
	return errors.Join(errs...)
}

// validateTransport checks the fields of the tiller and swift drivers.
func (c Config) validateTransport(field func(string) string) []error {
	var errs []error
	ts, v2 := transports[c.Driver]
	if !v2 {
		for _, f := range []struct {
			name string
			set  bool
		}{{"transport", c.Transport != ""}, {"address", c.Address != ""}, {"tls", c.TLS != nil},
			{"tillerNamespace", c.TillerNamespace != ""}, {"tillerLabels", c.TillerLabels != ""}, {"tillerPort", c.TillerPort != 0},
			{"swiftService", c.SwiftService != ""}, {"swiftPort", c.SwiftPort != ""}} {
			if f.set && slices.Contains(Drivers, c.Driver) {
				errs = append(errs, fmt.Errorf("%s: only for the tiller and swift drivers", field(f.name)))
			}
		}
		return errs
	}
	if c.Transport != "" && !slices.Contains(ts, c.Transport) {
		errs = append(errs, fmt.Errorf("%s: unknown transport %q for driver %s (known: %s)", field("transport"), c.Transport, c.Driver, strings.Join(ts, ", ")))
		return errs
	}
	t := c.EffectiveTransport()
	switch {
	case t == TransportDirect && c.Address == "":
		errs = append(errs, fmt.Errorf("%s: missing (transport direct needs it)", field("address")))
	case t != TransportDirect && c.Address != "":
		errs = append(errs, fmt.Errorf("%s: only for transport direct (transport is %s)", field("address"), t))
	case t == TransportDirect && c.Driver == "tiller":
		if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", field("address"), c.Address))
		}
	case t == TransportDirect && c.Driver == "swift":
		if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", field("address"), c.Address))
		}
	}
	if c.TillerLabels != "" {
		if _, err := labels.Parse(c.TillerLabels); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a label selector: %v", field("tillerLabels"), c.TillerLabels, err))
		}
	}
	if c.TillerPort < 0 || c.TillerPort > 65535 {
		errs = append(errs, fmt.Errorf("%s: %d is not a port", field("tillerPort"), c.TillerPort))
	}
	if c.Driver == "tiller" && (c.SwiftService != "" || c.SwiftPort != "") {
		errs = append(errs, fmt.Errorf("%s: only for the swift driver", field("swiftService")))
	}
	if c.Driver == "swift" && (c.TillerLabels != "" || c.TillerPort != 0) {
		errs = append(errs, fmt.Errorf("%s: only for the tiller driver", field("tillerLabels")))
	}
	if tl := c.TLS; tl != nil {
		for _, f := range [][2]string{{"caFile", tl.CAFile}, {"certFile", tl.CertFile}, {"keyFile", tl.KeyFile}} {
			if f[1] == "" {
				continue
			}
			if err := fileExists(f[1]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", field("tls."+f[0]), err))
			}
		}
		if (tl.CertFile == "") != (tl.KeyFile == "") {
			errs = append(errs, fmt.Errorf("%s: set both certFile and keyFile, or neither", field("tls")))
		}
	}
	return errs
}

func fileExists(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("file %q not found", p)
	}
	if st.IsDir() {
		return fmt.Errorf("%q is a directory, not a file", p)
	}
	return nil
}

// RESTConfig builds the client configuration for a cluster. Token and
// CA are read from their files by client-go, so rotating them needs no restart.
func (c Config) RESTConfig() (*rest.Config, error) {
	var rc *rest.Config
	if c.Kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster %q: kubeconfig %q context %q: %w", c.Name, c.Kubeconfig, c.Context, err)
		}
		rc = cfg
	} else {
		rc = &rest.Config{
			Host:            c.Server,
			BearerTokenFile: c.TokenFile,
			TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile, Insecure: c.InsecureSkipVerify},
		}
	}
	rc.Timeout = c.timeout()
	rc.QPS, rc.Burst = 100, 200
	rc.UserAgent = "helmgraph"
	return rc, nil
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return time.Duration(c.Timeout)
	}
	return DefaultTimeout
}

// FromKubeconfig offers every context of a kubeconfig as a helm cluster,
// named after the context (made a valid name if needed).
func FromKubeconfig(path string) ([]Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	file := path
	if file == "" {
		file = rules.GetDefaultFilename()
	}
	names := make([]string, 0, len(raw.Contexts))
	for n := range raw.Contexts {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []Config
	for _, n := range names {
		out = append(out, Config{Name: sanitizeName(n), Driver: "helm", Kubeconfig: file, Context: n})
	}
	return out, nil
}

func sanitizeName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-.")
}

// FilePaths points at every file path in the config (kubeconfig, token, CA,
// TLS files), so that a config loader can make relative ones relative to the
// config file.
func (c *Config) FilePaths() []*string {
	ps := []*string{&c.Kubeconfig, &c.TokenFile, &c.CAFile}
	if c.TLS != nil {
		ps = append(ps, &c.TLS.CAFile, &c.TLS.CertFile, &c.TLS.KeyFile)
	}
	return ps
}
