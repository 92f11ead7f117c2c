package charts

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/helmgraph/helmgraph/release"
)

// Options configures a Registry.
type Options struct {
	// MaxArchiveBytes bounds a chart archive (download or upload); 4 MiB by default.
	MaxArchiveBytes int64
	// MaxIndexBytes bounds an index.yaml; 32 MiB by default.
	MaxIndexBytes int64
	// Timeout bounds one request to a repository; 30s by default.
	Timeout time.Duration
	Log     *slog.Logger
	// Persist, when set, keeps repositories added at runtime (Add), sealed,
	// so that Restore brings them back after a restart.
	Persist *Persistence
}

// Defaults of Options.
const (
	DefaultMaxArchiveBytes = 4 << 20
	DefaultMaxIndexBytes   = 32 << 20
	DefaultTimeout         = 30 * time.Second
)

// Registry holds the configured chart repositories.
type Registry struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.RWMutex
	repos map[string]*repo
}

// NewRegistry returns an empty registry. Close it to stop its refresh loops.
func NewRegistry(opts Options) *Registry {
	if opts.MaxArchiveBytes <= 0 {
		opts.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if opts.MaxIndexBytes <= 0 {
		opts.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{opts: opts, log: opts.Log, ctx: ctx, cancel: cancel, repos: map[string]*repo{}}
}

// Open builds a registry from the config file's repositories. Their indexes
// are fetched in the background: a repository that is down does not stop
// helmgraph from starting, it shows up with lastError.
func Open(cfgs []Config, opts Options) (*Registry, error) {
	r := NewRegistry(opts)
	var errs []error
	seen := map[string]bool{}
	for i, c := range cfgs {
		field := func(f string) string { return fmt.Sprintf("repositories[%d].%s", i, f) }
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate repository name %q", field("name"), c.Name))
			continue
		}
		seen[c.Name] = true
		if _, err := r.add(context.Background(), c, field, false); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Close stops every background refresh.
func (r *Registry) Close() {
	r.cancel()
	r.wg.Wait()
}

// Add configures a repository after checking that it answers with these
// credentials: an unreachable repository is release.ErrClusterUnavailable,
// refused credentials or a bad index release.ErrInvalidArgument.
func (r *Registry) Add(ctx context.Context, c Config) (Info, error) {
	info, err := r.add(ctx, c, func(f string) string { return "input." + f }, true)
	if err != nil {
		return info, err
	}
	if err := r.persist(ctx, c); err != nil {
		r.Remove(c.Name)
		return Info{}, fmt.Errorf("repository %q not kept: %v", c.Name, err)
	}
	return info, nil
}

func (r *Registry) add(ctx context.Context, c Config, field func(string) string, verify bool) (Info, error) {
	if err := c.validate(field); err != nil {
		return Info{}, err
	}
	sec, err := c.secrets(field)
	if err != nil {
		return Info{}, err
	}
	rp, err := newRepo(c, sec, r.opts, field)
	if err != nil {
		return Info{}, err
	}
	r.mu.RLock()
	_, dup := r.repos[c.Name]
	r.mu.RUnlock()
	if dup {
		return Info{}, fmt.Errorf("%w: %s: repository %q already exists", release.ErrConflict, field("name"), c.Name)
	}
	if verify {
		if err := rp.check(ctx); err != nil {
			return Info{}, err
		}
	}
	r.mu.Lock()
	if _, dup := r.repos[c.Name]; dup {
		r.mu.Unlock()
		return Info{}, fmt.Errorf("%w: %s: repository %q already exists", release.ErrConflict, field("name"), c.Name)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	rp.stop = cancel
	r.repos[c.Name] = rp
	r.mu.Unlock()
	if !c.IsOCI() {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			rp.refreshLoop(ctx, r.log.With("repository", c.Name), !verify)
		}()
	}
	return rp.info(), nil
}

// Remove forgets a repository; release.ErrNotFound if there is none of that name.
func (r *Registry) Remove(name string) error {
	r.mu.Lock()
	rp, ok := r.repos[name]
	delete(r.repos, name)
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: repository %q is not configured", release.ErrNotFound, name)
	}
	rp.stop()
	if p := r.opts.Persist; p != nil {
		if err := p.Store.Delete(context.Background(), name); err != nil {
			return fmt.Errorf("repository %q removed, but its kept copy is not: %v", name, err)
		}
	}
	return nil
}

func (r *Registry) get(name string) (*repo, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rp, ok := r.repos[name]
	if !ok {
		return nil, fmt.Errorf("%w: repository %q is not configured", release.ErrNotFound, name)
	}
	return rp, nil
}

// Refresh fetches a repository's index now and returns what it found.
func (r *Registry) Refresh(ctx context.Context, name string) (Info, error) {
	rp, err := r.get(name)
	if err != nil {
		return Info{}, err
	}
	if rp.cfg.IsOCI() {
		return rp.info(), rp.check(ctx)
	}
	err = rp.refresh(ctx)
	return rp.info(), err
}

// Repositories describes every repository, by name.
func (r *Registry) Repositories() []Info {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Info, 0, len(r.repos))
	for _, rp := range r.repos {
		out = append(out, rp.info())
	}
	slices.SortFunc(out, func(a, b Info) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Repository describes one repository.
func (r *Registry) Repository(name string) (Info, error) {
	rp, err := r.get(name)
	if err != nil {
		return Info{}, err
	}
	return rp.info(), nil
}

// Info describes a repository without its secrets.
type Info struct {
	Name               string
	URL                string
	OCI                bool
	Flavor             string
	HasCredentials     bool
	InsecureSkipVerify bool
	UploadSupported    bool
	LastRefresh        *time.Time
	LastError          *string
	ChartCount         *int
}

func tlsConfig(sec secrets, insecure bool, field func(string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only when configured
	if len(sec.caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(sec.caPEM) {
			return nil, fmt.Errorf("%w: %s: no PEM certificate found", release.ErrInvalidArgument, field("ca"))
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func httpClient(tc *tls.Config, timeout time.Duration, maxBody int64) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	var rt http.RoundTripper = t
	if maxBody > 0 {
		rt = cappedTransport{next: t, max: maxBody}
	}
	return &http.Client{Transport: rt, Timeout: timeout}
}

// cappedTransport fails reading any response body past max bytes, so that no
// registry can make helmgraph buffer an archive of unbounded size.
type cappedTransport struct {
	next http.RoundTripper
	max  int64
}

func (c cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.max {
		resp.Body.Close()
		return nil, &tooLargeError{max: c.max}
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, max: c.max, left: c.max}
	return resp, nil
}

type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("larger than the limit of %d bytes", e.max)
}

type cappedBody struct {
	io.ReadCloser
	max, left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &tooLargeError{max: b.max}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &tooLargeError{max: b.max}
	}
	return n, err
}

// MaxArchiveBytes is the largest chart archive the registry accepts.
func (r *Registry) MaxArchiveBytes() int64 { return r.opts.MaxArchiveBytes }
