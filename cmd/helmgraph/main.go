// Command helmgraph serves one GraphQL API over the Helm releases of many
// Kubernetes clusters. Subcommands: serve, demo, version.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/cache/redis"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: helmgraph <command> [flags]

commands:
  serve    serve the clusters of a config file (or of your kubeconfig)
  demo     start two local Kubernetes API servers with demo releases and serve them
  token    make a bearer token (token new) or hash one (token hash < token) for auth.tokensFile
  version  print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:], log)
	case "demo":
		err = demo(ctx, os.Args[2:], log)
	case "token":
		err = token(os.Args[2:], os.Stdin, os.Stdout)
	case "version":
		fmt.Println(version)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "helmgraph: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmgraph:", err)
		os.Exit(1)
	}
}

// fileConfig is the YAML config file of `helmgraph serve --config`.
type fileConfig struct {
	Listen   string            `json:"listen,omitempty"`
	Clusters []clusters.Config `json:"clusters"`
	Cache    cacheConfig       `json:"cache,omitempty"`
	// Repositories are the chart repositories mutations install from.
	Repositories []charts.Config `json:"repositories,omitempty"`
	// Auth, Audit and API: who may do what, the audit log, API limits (docs/security.md).
	Auth  *authConfig       `json:"auth,omitempty"`
	Audit *auth.AuditConfig `json:"audit,omitempty"`
	API   apiConfig         `json:"api,omitempty"`
	// RuntimeRepositories keeps repositories added with addRepository, sealed.
	RuntimeRepositories *keptConfig `json:"runtimeRepositories,omitempty"`
}

// cacheConfig selects the release cache: Redis when given, else in memory.
type cacheConfig struct {
	Redis  *redis.Config      `json:"redis,omitempty"`
	Memory *memoryCacheConfig `json:"memory,omitempty"`
}

// memoryCacheConfig bounds the in-memory cache's decoded revisions and
// histories (docs/cache.md); zero keeps the default.
type memoryCacheConfig struct {
	// DetailBytes is their total size (as JSON), least recently used dropped first.
	DetailBytes int64 `json:"detailBytes,omitempty"`
	// DetailMaxBytes is the largest one kept.
	DetailMaxBytes int64 `json:"detailMaxBytes,omitempty"`
}

func loadConfig(path string) (fileConfig, error) {
	var fc fileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("config: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &fc); err != nil {
		return fc, fmt.Errorf("config %s: %w", path, err)
	}
	// Relative credential paths are relative to the config file.
	dir := filepath.Dir(path)
	for i := range fc.Clusters {
		for _, p := range fc.Clusters[i].FilePaths() {
			if rest, ok := strings.CutPrefix(*p, "~/"); ok {
				if home, err := os.UserHomeDir(); err == nil {
					*p = filepath.Join(home, rest)
				}
			}
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	if r := fc.Cache.Redis; r != nil && r.PasswordFile != "" && !filepath.IsAbs(r.PasswordFile) {
		r.PasswordFile = filepath.Join(dir, r.PasswordFile)
	}
	for i := range fc.Repositories {
		for _, p := range []*string{&fc.Repositories[i].PasswordFile, &fc.Repositories[i].TokenFile, &fc.Repositories[i].CAFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	if fc.Auth != nil {
		fc.Auth.relativize(dir)
	}
	if k := fc.RuntimeRepositories; k != nil {
		for _, p := range []*string{&k.Dir, &k.KeyFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	if a := fc.Audit; a != nil && a.Path != "" && a.Path != "-" && a.Path != "stdout" && !filepath.IsAbs(a.Path) {
		a.Path = filepath.Join(dir, a.Path)
	}
	if len(fc.Clusters) == 0 {
		return fc, fmt.Errorf("config %s: clusters: at least one cluster is needed", path)
	}
	return fc, nil
}

func serve(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config file (default: every context of $KUBECONFIG or ~/.kube/config)")
	listen := fs.String("listen", "", "address to serve on (default 127.0.0.1:8080, or the config's listen)")
	redisURL := fs.String("redis", "", "cache releases in this Redis, e.g. redis://127.0.0.1:6379/0 (overrides the config's cache.redis.address)")
	anonymous := fs.Bool("anonymous", false, "let requests without credentials in with admin rights on every cluster (local use only; overrides the config's auth)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var fc fileConfig
	if *configPath != "" {
		var err error
		if fc, err = loadConfig(*configPath); err != nil {
			return err
		}
	} else {
		cfgs, err := clusters.FromKubeconfig("")
		if err != nil {
			return fmt.Errorf("no --config given and %w", err)
		}
		if len(cfgs) == 0 {
			return errors.New("no --config given and the kubeconfig has no contexts; try `helmgraph demo`")
		}
		fc.Clusters = cfgs
	}
	if *redisURL != "" {
		if fc.Cache.Redis == nil {
			fc.Cache.Redis = &redis.Config{}
		}
		fc.Cache.Redis.Address = *redisURL
	}
	addr := firstNonEmpty(*listen, fc.Listen, "127.0.0.1:8080")
	reg, err := clusters.Open(fc.Clusters, log)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	backend, shared, err := openCache(fc.Cache, log)
	if err != nil {
		return err
	}
	defer backend.Close()
	persist, err := fc.RuntimeRepositories.persistence(backend)
	if err != nil {
		return fmt.Errorf("config: runtimeRepositories.%w", err)
	}
	chs, err := charts.Open(fc.Repositories, charts.Options{Log: log, Persist: persist})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer chs.Close()
	if err := chs.Restore(ctx); err != nil {
		return err
	}
	if *anonymous {
		fc.Auth = anonymousAdmin()
	}
	api, err := fc.API.options()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	g, stopGuard, err := guard(ctx, fc.Auth, fc.Audit, log, os.Stdout)
	if err != nil {
		return err
	}
	defer stopGuard()
	return run(ctx, addr, reg, backend, shared, chs, log, os.Stdout, g, api)
}

// anonymousAdmin lets everyone do everything: demo and `serve --anonymous`.
func anonymousAdmin() *authConfig {
	return &authConfig{Anonymous: true, Rules: []auth.Rule{{Groups: []string{auth.AnonymousGroup}, Clusters: []string{"*"}, Namespaces: []string{"*"}, Access: "admin"}}}
}

// openCache returns the configured cache backend and whether readiness
// depends on it.
func openCache(cfg cacheConfig, log *slog.Logger) (cache.Backend, bool, error) {
	if cfg.Redis != nil && cfg.Memory != nil {
		return nil, false, errors.New("config: cache: give either redis or memory, not both")
	}
	if m := cfg.Memory; m != nil {
		if m.DetailBytes < 0 || m.DetailMaxBytes < 0 {
			return nil, false, fmt.Errorf("config: cache.memory: detailBytes and detailMaxBytes must not be negative, got %d and %d", m.DetailBytes, m.DetailMaxBytes)
		}
		total, entry := cmp.Or(m.DetailBytes, cache.DefaultDetailTotalBytes), cmp.Or(m.DetailMaxBytes, cache.DefaultDetailMaxBytes)
		return memory.New(memory.WithDetailLimits(total, entry)), false, nil
	}
	if cfg.Redis == nil {
		return memory.New(), false, nil
	}
	b, err := redis.New(*cfg.Redis)
	if err != nil {
		return nil, false, fmt.Errorf("config: cache.redis: %w", err)
	}
	log.Info("caching releases in redis", "address", cfg.Redis.Redact())
	return b, true, nil
}

// run serves until ctx ends. chs may be nil (no configured repositories).
// backend is the release cache (shared says whether readiness depends on it).
func run(ctx context.Context, addr string, reg *clusters.Registry, backend cache.Backend, shared bool, chs *charts.Registry, log *slog.Logger, out io.Writer, g *auth.Guard, api server.APIOptions) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	svc := cache.NewService(backend, reg, cache.SyncOptions{Log: log})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	opts := server.Options{Registry: reg, Log: log, Events: svc.Hub, Charts: chs, Auth: g, API: api}
	if shared {
		opts.Ready = svc.Source.Ready
	}
	srv := server.New(opts)
	fmt.Fprintf(out, "helmgraph serving %d cluster(s): GraphQL at http://%s/graphql, query page at http://%s/\n", len(reg.Names()), l.Addr(), l.Addr())
	return srv.Serve(ctx, l)
}

func demo(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	keep := fs.String("dir", "", "directory for the demo clusters' data (default: a temporary directory, removed at exit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "helmgraph-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	d, err := localcluster.StartDemo(ctx, dir, os.Stdout)
	if d != nil {
		defer d.Stop()
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	reg, err := clusters.Open(d.Clusters, log)
	if err != nil {
		return err
	}
	g, stopGuard, err := guard(ctx, anonymousAdmin(), nil, log, os.Stdout)
	if err != nil {
		return err
	}
	defer stopGuard()
	return run(ctx, *listen, reg, memory.New(), false, nil, log, os.Stdout, g, server.APIOptions{})
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
