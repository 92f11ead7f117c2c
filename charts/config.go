package charts

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/helmgraph/helmgraph/release"
)

// Flavors of HTTP repositories: what upload API they offer.
const (
	FlavorPlain       = "plain"       // index.yaml and archives only; no upload
	FlavorChartMuseum = "chartmuseum" // POST {url}/api/charts
	FlavorHarbor      = "harbor"      // POST {host}/api/chartrepo/{project}/charts, url = {host}/chartrepo/{project}
)

// Config is one chart repository. In the config file secrets come from
// files (passwordFile, tokenFile, caFile); through the API they are given
// inline. Either way they are never returned or logged.
type Config struct {
	// Name identifies the repository; a lower-case DNS label.
	Name string `json:"name"`
	// URL is http(s)://… for an index.yaml repository or oci://host/path for an OCI registry.
	URL string `json:"url"`
	// Flavor is plain (default), chartmuseum or harbor; HTTP repositories only.
	Flavor string `json:"flavor,omitempty"`

	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
	Token        string `json:"token,omitempty"`
	TokenFile    string `json:"tokenFile,omitempty"`
	// CAFile or CA (PEM) add certificate authorities to the system's.
	CAFile             string `json:"caFile,omitempty"`
	CA                 string `json:"ca,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
	// PlainHTTP talks to an OCI registry over http:// (Helm's --plain-http).
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// RefreshInterval is how often the index is fetched again; 5m by default.
	RefreshInterval Duration `json:"refreshInterval,omitempty"`
}

// Duration is a time.Duration written as "5m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"5m\"", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// DefaultRefreshInterval is how often an index is refreshed unless configured.
const DefaultRefreshInterval = 5 * time.Minute

// IsOCI reports whether the repository is an OCI registry.
func (c Config) IsOCI() bool { return strings.HasPrefix(c.URL, "oci://") }

// Validate checks the config and names the field at fault, prefixed by field(…).
func (c Config) validate(field func(string) string) error {
	var errs []error
	bad := func(f, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", release.ErrInvalidArgument, field(f), fmt.Sprintf(format, args...)))
	}
	if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
		bad("name", "%q is not a valid repository name (lower-case letters, digits and '-')", c.Name)
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || u.Host == "":
		bad("url", "%q is not a URL with a host", c.URL)
	case u.User != nil:
		bad("url", "credentials in the URL are not accepted; use username and password")
	case u.Scheme == "oci":
		if c.Flavor != "" && c.Flavor != FlavorPlain {
			bad("flavor", "OCI registries have no flavor")
		}
	case u.Scheme == "http" || u.Scheme == "https":
		if c.PlainHTTP {
			bad("plainHTTP", "only for oci:// registries")
		}
	default:
		bad("url", "scheme %q is not http, https or oci", u.Scheme)
	}
	switch c.Flavor {
	case "", FlavorPlain, FlavorChartMuseum, FlavorHarbor:
	default:
		bad("flavor", "unknown flavor %q (known: plain, chartmuseum, harbor)", c.Flavor)
	}
	if c.Flavor == FlavorHarbor && err == nil && !strings.Contains(u.Path, "/chartrepo/") {
		bad("url", "a harbor repository URL looks like https://host/chartrepo/<project>")
	}
	if (c.Password != "" || c.PasswordFile != "") && c.Username == "" {
		bad("username", "missing (a password is set)")
	}
	if c.Password != "" && c.PasswordFile != "" {
		bad("passwordFile", "set either password or passwordFile")
	}
	if c.Token != "" && c.TokenFile != "" {
		bad("tokenFile", "set either token or tokenFile")
	}
	if (c.Token != "" || c.TokenFile != "") && c.Username != "" {
		bad("token", "set either a token or a username and password")
	}
	if c.CA != "" && c.CAFile != "" {
		bad("caFile", "set either ca or caFile")
	}
	if c.RefreshInterval < 0 {
		bad("refreshInterval", "must not be negative")
	}
	return errors.Join(errs...)
}

// resolved are a config's secrets read from their files.
type secrets struct {
	username, password, token string
	caPEM                     []byte
}

func (c Config) secrets(field func(string) string) (secrets, error) {
	s := secrets{username: c.Username, password: c.Password, token: c.Token, caPEM: []byte(c.CA)}
	read := func(f, path string, into *string) error {
		if path == "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: %s: cannot read %q", release.ErrInvalidArgument, field(f), path)
		}
		*into = strings.TrimSpace(string(b))
		return nil
	}
	if err := read("passwordFile", c.PasswordFile, &s.password); err != nil {
		return s, err
	}
	if err := read("tokenFile", c.TokenFile, &s.token); err != nil {
		return s, err
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return s, fmt.Errorf("%w: %s: cannot read %q", release.ErrInvalidArgument, field("caFile"), c.CAFile)
		}
		s.caPEM = b
	}
	return s, nil
}

// ParseConfigs reads a YAML list of repositories strictly.
func ParseConfigs(b []byte) ([]Config, error) {
	var cfgs []Config
	if err := yaml.UnmarshalStrict(b, &cfgs); err != nil {
		return nil, err
	}
	return cfgs, nil
}
