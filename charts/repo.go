package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/registry"
	repov1 "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/helmgraph/helmgraph/release"
)

// repo is one configured repository and what helmgraph last saw of it.
type repo struct {
	cfg    Config
	sec    secrets
	opts   Options
	base   *url.URL
	client *http.Client     // HTTP repositories
	oci    *registry.Client // OCI registries
	stop   context.CancelFunc

	mu          sync.RWMutex
	index       *repov1.IndexFile
	lastRefresh time.Time
	lastErr     error
	refreshing  sync.Mutex
}

func newRepo(c Config, sec secrets, opts Options, field func(string) string) (*repo, error) {
	tc, err := tlsConfig(sec, c.InsecureSkipVerify, field)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(strings.TrimSuffix(c.URL, "/"))
	rp := &repo{cfg: c, sec: sec, opts: opts, base: base, stop: func() {}}
	if !c.IsOCI() {
		rp.client = httpClient(tc, opts.Timeout, 0)
		return rp, nil
	}
	hc := httpClient(tc, opts.Timeout, opts.MaxArchiveBytes)
	// helmgraph's own authorizer: never the ambient Docker or Helm
	// credentials of the machine it runs on, only the repository's.
	authz := auth.Client{Client: hc, Cache: auth.NewCache()}
	switch {
	case sec.username != "":
		authz.Credential = auth.StaticCredential(base.Host, auth.Credential{Username: sec.username, Password: sec.password})
	case sec.token != "":
		authz.Credential = auth.StaticCredential(base.Host, auth.Credential{AccessToken: sec.token})
	}
	copts := []registry.ClientOption{
		registry.ClientOptHTTPClient(hc),
		registry.ClientOptAuthorizer(authz),
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(filepath.Join(os.TempDir(), "helmgraph-unused-registry-credentials.json")),
	}
	if c.PlainHTTP {
		copts = append(copts, registry.ClientOptPlainHTTP())
	}
	rp.oci, err = registry.NewClient(copts...)
	if err != nil {
		return nil, fmt.Errorf("repository %q: registry client: %w", c.Name, err)
	}
	return rp, nil
}

func (rp *repo) info() Info {
	rp.mu.RLock()
	defer rp.mu.RUnlock()
	in := Info{
		Name: rp.cfg.Name, URL: rp.cfg.URL, OCI: rp.cfg.IsOCI(), Flavor: rp.cfg.Flavor,
		HasCredentials:     rp.sec.username != "" || rp.sec.token != "",
		InsecureSkipVerify: rp.cfg.InsecureSkipVerify,
		UploadSupported:    rp.cfg.IsOCI() || rp.cfg.Flavor == FlavorChartMuseum || rp.cfg.Flavor == FlavorHarbor,
	}
	if in.Flavor == "" && !in.OCI {
		in.Flavor = FlavorPlain
	}
	if !rp.lastRefresh.IsZero() {
		t := rp.lastRefresh
		in.LastRefresh = &t
	}
	if rp.lastErr != nil {
		msg := rp.lastErr.Error()
		in.LastError = &msg
	}
	if rp.index != nil {
		n := len(rp.index.Entries)
		in.ChartCount = &n
	}
	return in
}

// check makes sure the repository answers with its credentials.
func (rp *repo) check(ctx context.Context) error {
	if rp.cfg.IsOCI() {
		// An OCI registry has no index to fetch; pulls report problems.
		return nil
	}
	return rp.refresh(ctx)
}

func (rp *repo) refreshLoop(ctx context.Context, log *slog.Logger, now bool) {
	every := time.Duration(rp.cfg.RefreshInterval)
	if every <= 0 {
		every = DefaultRefreshInterval
	}
	if now {
		if err := rp.refresh(ctx); err != nil && ctx.Err() == nil {
			log.Warn("refresh chart repository index", "err", err)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := rp.refresh(ctx); err != nil && ctx.Err() == nil {
				log.Warn("refresh chart repository index", "err", err)
			}
		}
	}
}

// refresh fetches and parses index.yaml; the previous index stays in use
// when it fails.
func (rp *repo) refresh(ctx context.Context) error {
	rp.refreshing.Lock()
	defer rp.refreshing.Unlock()
	idx, err := rp.fetchIndex(ctx)
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.lastRefresh = time.Now().UTC()
	rp.lastErr = err
	if err == nil {
		rp.index = idx
	}
	return err
}

func (rp *repo) fetchIndex(ctx context.Context) (*repov1.IndexFile, error) {
	data, err := rp.fetch(ctx, rp.cfg.URL+"/index.yaml", rp.opts.MaxIndexBytes, "index.yaml")
	if err != nil {
		return nil, err
	}
	// The SDK loads indexes from files (as from its cache directory).
	f, err := os.CreateTemp("", "helmgraph-index-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	idx, err := repov1.LoadIndexFile(f.Name())
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: index.yaml is not a chart repository index: %v", release.ErrInvalidArgument, rp.cfg.Name, err)
	}
	return idx, nil
}

func (rp *repo) currentIndex(ctx context.Context) (*repov1.IndexFile, error) {
	rp.mu.RLock()
	idx := rp.index
	rp.mu.RUnlock()
	if idx != nil {
		return idx, nil
	}
	if err := rp.refresh(ctx); err != nil {
		return nil, err
	}
	rp.mu.RLock()
	defer rp.mu.RUnlock()
	return rp.index, nil
}

// authorize adds the repository's credentials to requests to its own host
// only, as Helm does unless told to pass credentials everywhere.
func (rp *repo) authorize(req *http.Request) {
	if req.URL.Scheme != rp.base.Scheme || req.URL.Host != rp.base.Host {
		return
	}
	switch {
	case rp.sec.username != "":
		req.SetBasicAuth(rp.sec.username, rp.sec.password)
	case rp.sec.token != "":
		req.Header.Set("Authorization", "Bearer "+rp.sec.token)
	}
}

// fetch GETs u, at most max bytes of it; what names it in errors.
func (rp *repo) fetch(ctx context.Context, u string, max int64, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: %s: bad URL %q", release.ErrInvalidArgument, rp.cfg.Name, what, u)
	}
	req.Header.Set("User-Agent", "helmgraph")
	rp.authorize(req)
	resp, err := rp.client.Do(req)
	if err != nil {
		return nil, rp.transportError(what, err)
	}
	defer resp.Body.Close()
	if err := rp.statusError(what, resp); err != nil {
		return nil, err
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%w: repository %q: %s is %d bytes, larger than the limit of %d bytes", release.ErrInvalidArgument, rp.cfg.Name, what, resp.ContentLength, max)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, rp.transportError(what, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: repository %q: %s is larger than the limit of %d bytes", release.ErrInvalidArgument, rp.cfg.Name, what, max)
	}
	return data, nil
}

// transportError classifies a failed request: an untrusted certificate is
// the repository's configuration (INVALID_ARGUMENT), anything else means the
// repository could not be reached (CLUSTER_UNAVAILABLE).
func (rp *repo) transportError(what string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		verifyErr *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &verifyErr) {
		return fmt.Errorf("%w: repository %q: %s: TLS certificate not trusted (configure ca, or insecureSkipVerify): %v", release.ErrInvalidArgument, rp.cfg.Name, what, err)
	}
	var tl *tooLargeError
	if errors.As(err, &tl) {
		return fmt.Errorf("%w: repository %q: %s is %v", release.ErrInvalidArgument, rp.cfg.Name, what, tl)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: repository %q: %s: no answer within %s", release.ErrClusterUnavailable, rp.cfg.Name, what, rp.opts.Timeout)
	}
	return fmt.Errorf("%w: repository %q: %s: %v", release.ErrClusterUnavailable, rp.cfg.Name, what, err)
}

func (rp *repo) statusError(what string, resp *http.Response) error {
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: repository %q: %s: credentials refused (%s)", release.ErrInvalidArgument, rp.cfg.Name, what, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: repository %q: %s: not found (%s)", release.ErrInvalidArgument, rp.cfg.Name, what, resp.Status)
	case resp.StatusCode == http.StatusConflict:
		return fmt.Errorf("%w: repository %q: %s: already exists (%s)", release.ErrConflict, rp.cfg.Name, what, resp.Status)
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: repository %q: %s: %s", release.ErrClusterUnavailable, rp.cfg.Name, what, resp.Status)
	}
	return fmt.Errorf("%w: repository %q: %s: %s", release.ErrInvalidArgument, rp.cfg.Name, what, resp.Status)
}

// download fetches a chart version's archive and checks its digest.
func (rp *repo) download(ctx context.Context, cv *repov1.ChartVersion) ([]byte, string, error) {
	what := fmt.Sprintf("archive of chart %s %s", cv.Name, cv.Version)
	if len(cv.URLs) == 0 {
		return nil, "", fmt.Errorf("%w: repository %q: %s: the index lists no URL", release.ErrInvalidArgument, rp.cfg.Name, what)
	}
	u, err := repov1.ResolveReferenceURL(rp.cfg.URL, cv.URLs[0])
	if err != nil {
		return nil, "", fmt.Errorf("%w: repository %q: %s: %v", release.ErrInvalidArgument, rp.cfg.Name, what, err)
	}
	data, err := rp.fetch(ctx, u, rp.opts.MaxArchiveBytes, what)
	if err != nil {
		return nil, "", err
	}
	if cv.Digest != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, strings.TrimPrefix(cv.Digest, "sha256:")) {
			return nil, "", fmt.Errorf("%w: repository %q: %s: digest %s does not match the index's %s", release.ErrInvalidArgument, rp.cfg.Name, what, got, cv.Digest)
		}
	}
	return data, redact(u), nil
}

// upload sends an archive to the repository's upload API.
func (rp *repo) upload(ctx context.Context, name, version string, data []byte) error {
	what := fmt.Sprintf("upload of chart %s %s", name, version)
	if rp.cfg.IsOCI() {
		ref := fmt.Sprintf("%s/%s:%s", strings.TrimPrefix(rp.cfg.URL, "oci://"), name, version)
		if _, err := rp.oci.Push(data, ref); err != nil {
			return rp.ociError(what, err)
		}
		return nil
	}
	var req *http.Request
	var err error
	switch rp.cfg.Flavor {
	case FlavorChartMuseum:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, rp.cfg.URL+"/api/charts", bytes.NewReader(data))
		if err == nil {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	case FlavorHarbor:
		project := rp.base.Path[strings.LastIndex(rp.base.Path, "/chartrepo/")+len("/chartrepo/"):]
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("chart", fmt.Sprintf("%s-%s.tgz", name, version))
		fw.Write(data)
		mw.Close()
		u := fmt.Sprintf("%s://%s/api/chartrepo/%s/charts", rp.base.Scheme, rp.base.Host, project)
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, &body)
		if err == nil {
			req.Header.Set("Content-Type", mw.FormDataContentType())
		}
	default:
		return fmt.Errorf("%w: repository: %q does not accept uploads (flavor plain; use chartmuseum, harbor or an oci:// registry)", release.ErrInvalidArgument, rp.cfg.Name)
	}
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "helmgraph")
	rp.authorize(req)
	resp, err := rp.client.Do(req)
	if err != nil {
		return rp.transportError(what, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return rp.statusError(what, resp)
}

// ociError classifies an error of the Helm registry client.
func (rp *repo) ociError(what string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "credential not found"):
		return fmt.Errorf("%w: repository %q: %s: the registry requires credentials: %v", release.ErrInvalidArgument, rp.cfg.Name, what, err)
	case strings.Contains(msg, "401") || strings.Contains(msg, "403") || strings.Contains(strings.ToLower(msg), "unauthorized"):
		return fmt.Errorf("%w: repository %q: %s: credentials refused: %v", release.ErrInvalidArgument, rp.cfg.Name, what, err)
	case strings.Contains(msg, "not found") || strings.Contains(msg, "404"):
		return fmt.Errorf("%w: repository %q: %s: not found: %v", release.ErrInvalidArgument, rp.cfg.Name, what, err)
	}
	var tl *tooLargeError
	if errors.As(err, &tl) {
		return fmt.Errorf("%w: repository %q: %s is %v", release.ErrInvalidArgument, rp.cfg.Name, what, tl)
	}
	return rp.transportError(what, err)
}

// redact drops any userinfo and query from a URL for messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}
