// Package redis is the cache.Backend in Redis (go-redis v9), shared by every
// helmgraph replica that names the same Redis and key prefix.
//
// Layout, under the prefix (default "helmgraph:"):
//
//	rel:{cluster}    hash "namespace/name" → JSON release summary (latest revision)
//	ver:{cluster}    counter bumped by every write of the cluster's releases
//	state:{cluster}  JSON sync state
//	lease:{name}     holder of a lease, with its expiry as the key's TTL
//	events           pub/sub channel of JSON events
//	detail:{cluster}:{namespace}/{name}:{revision}:{updated}
//	                 JSON decoded revision (cache.DetailKey), with a TTL
//	history:{cluster}:{namespace}/{name}:{revision}:{status}:{updated}
//	                 JSON history under its newest revision (cache.HistoryKey), with a TTL
//
// Reads cost one round trip for every cluster asked for: the counters and
// states come first, and a cluster's hash is read again only when its counter
// moved since this replica last read it. Decoded releases are kept per
// replica, so a synced fleet answers a page from memory after one round trip.
package redis

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/release"
)

// Config says how to reach Redis.
type Config struct {
	// Address is host:port, or a redis:// or rediss:// URL (which may carry
	// the username, password and db).
	Address  string `json:"address"`
	Username string `json:"username,omitempty"`
	// PasswordFile holds the password; it is never logged.
	PasswordFile string `json:"passwordFile,omitempty"`
	DB           int    `json:"db,omitempty"`
	TLS          bool   `json:"tls,omitempty"`
	// KeyPrefix namespaces every key and channel; "helmgraph:" by default.
	KeyPrefix string `json:"keyPrefix,omitempty"`
	// DetailTTL is how long a decoded revision or history is kept
	// (cache.DefaultDetailTTL by default); DetailMaxBytes is the largest one
	// stored, as JSON (cache.DefaultDetailMaxBytes by default).
	DetailTTL      clusters.Duration `json:"detailTTL,omitempty"`
	DetailMaxBytes int               `json:"detailMaxBytes,omitempty"`
}

// DefaultKeyPrefix namespaces keys when the config sets no prefix.
const DefaultKeyPrefix = "helmgraph:"

// Options builds go-redis options from the config.
func (c Config) Options() (*goredis.Options, error) {
	var opts *goredis.Options
	if strings.HasPrefix(c.Address, "redis://") || strings.HasPrefix(c.Address, "rediss://") {
		o, err := goredis.ParseURL(c.Address)
		if err != nil {
			// ParseURL's error may quote the URL, password included.
			return nil, fmt.Errorf("redis address: not a valid redis:// URL")
		}
		opts = o
	} else {
		if c.Address == "" {
			return nil, errors.New("redis address: missing")
		}
		opts = &goredis.Options{Addr: c.Address}
	}
	if c.Username != "" {
		opts.Username = c.Username
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis passwordFile: %w", err)
		}
		opts.Password = strings.TrimRight(string(b), "\r\n")
	}
	if c.DB != 0 {
		opts.DB = c.DB
	}
	if c.TLS && opts.TLSConfig == nil {
		host, _, _ := strings.Cut(opts.Addr, ":")
		opts.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	// Fail fast: a query waiting on a dead Redis falls back to the cluster.
	opts.DialTimeout = time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	opts.MaxRetries = 1
	return opts, nil
}

// Redact returns the address without a password, for logs.
func (c Config) Redact() string {
	if u, err := url.Parse(c.Address); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return c.Address
}

// Backend is a cache.Backend in Redis. Safe for concurrent use.
type Backend struct {
	client *goredis.Client
	prefix string
	// detailTTL and detailMax bound the decoded revisions and histories.
	detailTTL time.Duration
	detailMax int

	mu    sync.Mutex
	local map[string]decoded // by cluster
}

type decoded struct {
	version  int64
	releases []release.Summary
}

var _ cache.Backend = (*Backend)(nil)

// New connects lazily: a Redis that is down at start makes calls fail (and
// readiness false) until it is up, never New.
func New(cfg Config) (*Backend, error) {
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return &Backend{
		client: goredis.NewClient(opts), prefix: prefix, local: map[string]decoded{},
		detailTTL: cmp.Or(time.Duration(cfg.DetailTTL), cache.DefaultDetailTTL),
		detailMax: cmp.Or(cfg.DetailMaxBytes, cache.DefaultDetailMaxBytes),
	}, nil
}

func (b *Backend) key(parts ...string) string { return b.prefix + strings.Join(parts, ":") }

func field(ref release.Ref) string { return ref.Namespace + "/" + ref.Name }

func unavailable(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: redis: %s: %w", cache.ErrUnavailable, what, err)
}

func (b *Backend) Replace(ctx context.Context, cluster string, rels []release.Summary, st cache.SyncState) error {
	vals := make([]any, 0, 2*len(rels))
	for _, s := range rels {
		j, err := json.Marshal(s)
		if err != nil {
			return err
		}
		vals = append(vals, field(s.Ref), j)
	}
	stj, _ := json.Marshal(st)
	_, err := b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, b.key("rel", cluster))
		// HSET takes at most ~1M arguments comfortably; chunk to keep each command small.
		for i := 0; i < len(vals); i += 2000 {
			p.HSet(ctx, b.key("rel", cluster), vals[i:min(i+2000, len(vals))]...)
		}
		p.Incr(ctx, b.key("ver", cluster))
		p.Set(ctx, b.key("state", cluster), stj, 0)
		return nil
	})
	return unavailable("replace releases of cluster "+cluster, err)
}

func (b *Backend) Put(ctx context.Context, s release.Summary) error {
	j, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, b.key("rel", s.Ref.Cluster), field(s.Ref), j)
		p.Incr(ctx, b.key("ver", s.Ref.Cluster))
		return nil
	})
	return unavailable("store release "+s.Ref.String(), err)
}

func (b *Backend) Delete(ctx context.Context, ref release.Ref) error {
	_, err := b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, b.key("rel", ref.Cluster), field(ref))
		p.Incr(ctx, b.key("ver", ref.Cluster))
		return nil
	})
	return unavailable("delete release "+ref.String(), err)
}

func (b *Backend) SetState(ctx context.Context, cluster string, st cache.SyncState) error {
	j, _ := json.Marshal(st)
	return unavailable("set sync state of cluster "+cluster, b.client.Set(ctx, b.key("state", cluster), j, 0).Err())
}

func (b *Backend) Snapshot(ctx context.Context, clusters []string) (map[string]cache.Snapshot, error) {
	vers := make([]*goredis.StringCmd, len(clusters))
	states := make([]*goredis.StringCmd, len(clusters))
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, c := range clusters {
			vers[i] = p.Get(ctx, b.key("ver", c))
			states[i] = p.Get(ctx, b.key("state", c))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, unavailable("read sync states", err)
	}
	out := make(map[string]cache.Snapshot, len(clusters))
	var refetch []int
	b.mu.Lock()
	for i, c := range clusters {
		stj, err := states[i].Bytes()
		if err != nil {
			continue // nothing stored for the cluster
		}
		var st cache.SyncState
		if err := json.Unmarshal(stj, &st); err != nil {
			continue
		}
		ver, _ := vers[i].Int64()
		snap := cache.Snapshot{State: st}
		if d, ok := b.local[c]; ok && d.version == ver {
			snap.Releases = d.releases
		} else {
			refetch = append(refetch, i)
		}
		out[c] = snap
	}
	b.mu.Unlock()
	if len(refetch) == 0 {
		return out, nil
	}
	hashes := make([]*goredis.MapStringStringCmd, len(refetch))
	vers2 := make([]*goredis.StringCmd, len(refetch))
	_, err = b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for j, i := range refetch {
			hashes[j] = p.HGetAll(ctx, b.key("rel", clusters[i]))
			vers2[j] = p.Get(ctx, b.key("ver", clusters[i]))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, unavailable("read releases", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for j, i := range refetch {
		c := clusters[i]
		m := hashes[j].Val()
		rels := make([]release.Summary, 0, len(m))
		for k, v := range m {
			var s release.Summary
			if err := json.Unmarshal([]byte(v), &s); err != nil {
				return nil, fmt.Errorf("redis: release %s of cluster %s: %w", k, c, err)
			}
			rels = append(rels, s)
		}
		slices.SortFunc(rels, func(a, b release.Summary) int {
			return cmp.Or(cmp.Compare(a.Ref.Namespace, b.Ref.Namespace), cmp.Compare(a.Ref.Name, b.Ref.Name))
		})
		ver, _ := vers2[j].Int64() // read in the same transaction as the hash
		b.local[c] = decoded{version: ver, releases: rels}
		snap := out[c]
		snap.Releases = rels
		out[c] = snap
	}
	return out, nil
}

func (b *Backend) Ping(ctx context.Context) error {
	return unavailable("ping", b.client.Ping(ctx).Err())
}

func (b *Backend) Publish(ctx context.Context, ev cache.Event) error {
	j, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return unavailable("publish event", b.client.Publish(ctx, b.key("events"), j).Err())
}

// Subscribe delivers events until ctx ends. go-redis re-subscribes after a
// lost connection by itself; events published meanwhile are lost, which the
// sync loops make good by relisting when they reconnect.
func (b *Backend) Subscribe(ctx context.Context) (<-chan cache.Event, error) {
	ps := b.client.Subscribe(ctx, b.key("events"))
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, unavailable("subscribe to events", err)
	}
	out := make(chan cache.Event, 1024)
	msgs := ps.Channel(goredis.WithChannelSize(4096))
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				var ev cache.Event
				if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// renew extends a lease only if holder still has it.
var renew = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

var drop = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

func (b *Backend) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	k := b.key("lease", name)
	ok, err := b.client.SetNX(ctx, k, holder, ttl).Result()
	if err != nil {
		return false, unavailable("acquire lease "+name, err)
	}
	if ok {
		return true, nil
	}
	n, err := renew.Run(ctx, b.client, []string{k}, holder, strconv.FormatInt(ttl.Milliseconds(), 10)).Int()
	if err != nil {
		return false, unavailable("renew lease "+name, err)
	}
	return n == 1, nil
}

func (b *Backend) Release(ctx context.Context, name, holder string) error {
	return unavailable("release lease "+name, drop.Run(ctx, b.client, []string{b.key("lease", name)}, holder).Err())
}

// Records of a kind live in one hash, name → data.
func (b *Backend) SaveRecord(ctx context.Context, kind, name string, data []byte) error {
	return unavailable("save record", b.client.HSet(ctx, b.key("records", kind), name, data).Err())
}

func (b *Backend) DeleteRecord(ctx context.Context, kind, name string) error {
	return unavailable("delete record", b.client.HDel(ctx, b.key("records", kind), name).Err())
}

func (b *Backend) LoadRecords(ctx context.Context, kind string) (map[string][]byte, error) {
	m, err := b.client.HGetAll(ctx, b.key("records", kind)).Result()
	if err != nil {
		return nil, unavailable("load records", err)
	}
	out := make(map[string][]byte, len(m))
	for n, d := range m {
		out[n] = []byte(d)
	}
	return out, nil
}

func (b *Backend) Close() error { return b.client.Close() }
