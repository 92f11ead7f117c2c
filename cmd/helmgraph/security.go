package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/server"
)

// authConfig is the config file's auth section.
type authConfig struct {
	TokensFile string           `json:"tokensFile,omitempty"`
	OIDC       *auth.OIDCConfig `json:"oidc,omitempty"`
	// Anonymous lets requests without credentials in as system:anonymous
	// (group system:unauthenticated); rules decide what they may do.
	Anonymous bool `json:"anonymous,omitempty"`
	// Rules, or RulesFile (reloaded on SIGHUP and when it changes).
	Rules     []auth.Rule `json:"rules,omitempty"`
	RulesFile string      `json:"rulesFile,omitempty"`
}

// apiConfig is the config file's api section.
type apiConfig struct {
	MaxDepth      int   `json:"maxDepth,omitempty"`
	MaxComplexity int   `json:"maxComplexity,omitempty"`
	Introspection *bool `json:"introspection,omitempty"`
	// CORS lists the origins browsers may call from, e.g. https://ui.example.com.
	CORS               []string         `json:"cors,omitempty"`
	RateLimit          *rateLimitConfig `json:"rateLimit,omitempty"`
	WebsocketReadLimit int64            `json:"websocketReadLimit,omitempty"`
	PersistedQueries   int              `json:"persistedQueries,omitempty"`
}

type rateLimitConfig struct {
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	Burst             int     `json:"burst,omitempty"`
}

// relativize joins relative security paths to the config file's directory.
func (a *authConfig) relativize(dir string) {
	for _, p := range []*string{&a.TokensFile, &a.RulesFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if a.OIDC != nil && a.OIDC.CAFile != "" && !filepath.IsAbs(a.OIDC.CAFile) {
		a.OIDC.CAFile = filepath.Join(dir, a.OIDC.CAFile)
	}
}

func (c apiConfig) options() (server.APIOptions, error) {
	o := server.APIOptions{MaxDepth: c.MaxDepth, MaxComplexity: c.MaxComplexity, CORS: c.CORS,
		WebsocketReadLimit: c.WebsocketReadLimit, PersistedQueries: c.PersistedQueries}
	if c.MaxDepth < 0 {
		return o, fmt.Errorf("api.maxDepth: must not be negative")
	}
	if c.MaxComplexity < 0 {
		return o, fmt.Errorf("api.maxComplexity: must not be negative")
	}
	if c.Introspection != nil && !*c.Introspection {
		o.DisableIntrospection = true
	}
	for i, origin := range c.CORS {
		if !validOrigin(origin) {
			return o, fmt.Errorf("api.cors[%d]: %q is not an origin such as https://ui.example.com", i, origin)
		}
	}
	if rl := c.RateLimit; rl != nil {
		if rl.RequestsPerSecond <= 0 {
			return o, fmt.Errorf("api.rateLimit.requestsPerSecond: must be positive")
		}
		if rl.Burst < 0 {
			return o, fmt.Errorf("api.rateLimit.burst: must not be negative")
		}
		o.RatePerSecond, o.RateBurst = rl.RequestsPerSecond, rl.Burst
	}
	return o, nil
}

func validOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil
}

// guard builds authentication, authorization and the audit log. Without an
// auth section nobody is let in (every request is answered 401) unless
// anonymous is set.
func guard(ctx context.Context, ac *authConfig, audit *auth.AuditConfig, log *slog.Logger, out io.Writer) (*auth.Guard, func(), error) {
	if ac == nil {
		ac = &authConfig{}
		log.Warn("no auth section in the config: every request will be refused with 401; configure auth.tokensFile, auth.oidc or auth.anonymous")
	}
	authn, err := auth.NewAuthenticator(ctx, auth.Config{TokensFile: ac.TokensFile, OIDC: ac.OIDC, Anonymous: ac.Anonymous})
	if err != nil {
		return nil, nil, fmt.Errorf("config: auth.%w", err)
	}
	var pol *auth.Policy
	switch {
	case ac.RulesFile != "" && len(ac.Rules) > 0:
		return nil, nil, fmt.Errorf("config: auth.rules and auth.rulesFile: set one of them")
	case ac.RulesFile != "":
		if pol, err = auth.LoadPolicy(ac.RulesFile); err != nil {
			return nil, nil, fmt.Errorf("config: auth.%w", err)
		}
	default:
		if pol, err = auth.NewPolicy(ac.Rules); err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
	}
	g := &auth.Guard{Authn: authn, Policy: pol}
	if audit != nil {
		if g.Audit, err = auth.OpenAuditor(*audit); err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
	}
	if ac.Anonymous {
		fmt.Fprintln(out, "helmgraph: anonymous access is enabled: requests without credentials act as system:anonymous")
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() { defer close(done); pol.Watch(wctx, 5*time.Second, hup, log) }()
	return g, func() { signal.Stop(hup); cancel(); <-done; g.Audit.Close() }, nil
}

// token implements `helmgraph token new|hash`: making bearer tokens and the
// hashes the tokens file stores.
func token(args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: helmgraph token new [--subject NAME] [--groups a,b] | helmgraph token hash < token")
	}
	switch args[0] {
	case "hash":
		b, err := io.ReadAll(io.LimitReader(in, 1<<16))
		if err != nil {
			return err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("token hash: no token on standard input")
		}
		fmt.Fprintln(out, auth.HashToken(tok))
		return nil
	case "new":
		fs := flag.NewFlagSet("token new", flag.ContinueOnError)
		subject := fs.String("subject", "", "the subject the token authenticates as")
		groups := fs.String("groups", "", "comma-separated groups")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		tok := base64.RawURLEncoding.EncodeToString(raw)
		fmt.Fprintf(out, "# give the client this token (it is not stored anywhere):\n# %s\n# and add this entry to the tokens file:\n", tok)
		e := auth.TokenEntry{SHA256: auth.HashToken(tok), Subject: *subject}
		if *groups != "" {
			e.Groups = strings.Split(*groups, ",")
		}
		b, err := yaml.Marshal([]auth.TokenEntry{e})
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	return fmt.Errorf("token: unknown subcommand %q (known: new, hash)", args[0])
}

// keptConfig is the runtimeRepositories section: where repositories added
// at runtime are kept, sealed with AES-256-GCM under a key from a file or
// an environment variable.
type keptConfig struct {
	// Dir, when set, keeps them as files; else they live in the cache store.
	Dir     string `json:"dir,omitempty"`
	KeyFile string `json:"keyFile,omitempty"`
	KeyEnv  string `json:"keyEnv,omitempty"`
}

// persistence keeps runtime repositories sealed in dir when one is given,
// else in the cache store (records), where every replica sharing a Redis
// finds them.
func (k *keptConfig) persistence(records cache.Records) (*charts.Persistence, error) {
	if k == nil {
		return nil, nil
	}
	key, err := auth.LoadKey(k.KeyFile, k.KeyEnv)
	if err != nil {
		return nil, err
	}
	s, err := auth.NewSealer(key)
	if err != nil {
		return nil, err
	}
	var store charts.RepoStore = recordStore{records}
	if k.Dir != "" {
		store = charts.DirStore{Dir: k.Dir}
	}
	return &charts.Persistence{Store: store, Sealer: s}, nil
}

// recordStore keeps sealed repositories as cache records of one kind.
type recordStore struct{ records cache.Records }

const repositoryRecords = "repositories"

func (r recordStore) Save(ctx context.Context, name string, sealed []byte) error {
	return r.records.SaveRecord(ctx, repositoryRecords, name, sealed)
}

func (r recordStore) Delete(ctx context.Context, name string) error {
	return r.records.DeleteRecord(ctx, repositoryRecords, name)
}

func (r recordStore) Load(ctx context.Context) (map[string][]byte, error) {
	return r.records.LoadRecords(ctx, repositoryRecords)
}
