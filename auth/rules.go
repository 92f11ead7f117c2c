package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"sync/atomic"
	"time"

	"sigs.k8s.io/yaml"
)

// Level is what a rule grants; each level includes those below it.
type Level int

const (
	// Read lets a caller see releases, their details and operations.
	Read Level = iota + 1
	// Write adds install, upgrade, rollback and test.
	Write
	// Admin adds uninstall and, on every cluster and namespace, managing chart repositories.
	Admin
)

func (l Level) String() string {
	switch l {
	case Read:
		return "read"
	case Write:
		return "write"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// ParseLevel parses read, write or admin.
func ParseLevel(s string) (Level, error) {
	for _, l := range []Level{Read, Write, Admin} {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown access %q (known: read, write, admin)", s)
}

// Rule grants Access on the matching clusters and namespaces to the
// listed subjects and groups. Patterns are shell globs (path.Match): "*",
// "prod-*", "team-?". A rule with neither subjects nor groups matches nobody.
type Rule struct {
	Subjects   []string `json:"subjects,omitempty"`
	Groups     []string `json:"groups,omitempty"`
	Clusters   []string `json:"clusters"`
	Namespaces []string `json:"namespaces"`
	Access     string   `json:"access"`

	level Level
}

// RulesFile is the format of auth.rulesFile: {rules: [...]}.
type RulesFile struct {
	Rules []Rule `json:"rules"`
}

// CompileRules validates rules, naming the field at fault (prefix is the
// path of the list, e.g. "auth.rules").
func CompileRules(prefix string, rules []Rule) ([]Rule, error) {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		at := fmt.Sprintf("%s[%d]", prefix, i)
		if len(r.Subjects) == 0 && len(r.Groups) == 0 {
			return nil, fmt.Errorf("%s: subjects or groups: name at least one", at)
		}
		if len(r.Clusters) == 0 {
			return nil, fmt.Errorf("%s.clusters: missing (use [\"*\"] for every cluster)", at)
		}
		if len(r.Namespaces) == 0 {
			return nil, fmt.Errorf("%s.namespaces: missing (use [\"*\"] for every namespace)", at)
		}
		for field, pats := range map[string][]string{"subjects": r.Subjects, "groups": r.Groups, "clusters": r.Clusters, "namespaces": r.Namespaces} {
			for _, p := range pats {
				if _, err := path.Match(p, ""); err != nil {
					return nil, fmt.Errorf("%s.%s: bad pattern %q", at, field, p)
				}
			}
		}
		l, err := ParseLevel(r.Access)
		if err != nil {
			return nil, fmt.Errorf("%s.access: %v", at, err)
		}
		r.level = l
		out[i] = r
	}
	return out, nil
}

func matchAny(pats []string, s string) bool {
	return slices.ContainsFunc(pats, func(p string) bool { ok, _ := path.Match(p, s); return ok })
}

func (r *Rule) appliesTo(id Identity) bool {
	if matchAny(r.Subjects, id.Subject) {
		return true
	}
	return slices.ContainsFunc(id.Groups, func(g string) bool { return matchAny(r.Groups, g) })
}

// Policy holds the current rules; they can be swapped at any time (reload),
// and every check reads the rules of the moment, so running subscriptions
// follow a reload at their next event.
type Policy struct {
	rules atomic.Pointer[[]Rule]
	// file and its modification time, when the rules come from a file.
	file    string
	modTime time.Time
}

// NewPolicy holds fixed rules.
func NewPolicy(rules []Rule) (*Policy, error) {
	c, err := CompileRules("auth.rules", rules)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	p.rules.Store(&c)
	return p, nil
}

// LoadPolicy reads rules from a rules file; Reload and Watch reread it.
func LoadPolicy(file string) (*Policy, error) {
	p := &Policy{file: file}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload rereads the rules file. Invalid rules keep the previous ones.
func (p *Policy) Reload() error {
	if p.file == "" {
		return nil
	}
	st, err := os.Stat(p.file)
	if err != nil {
		return fmt.Errorf("rulesFile: %w", err)
	}
	b, err := os.ReadFile(p.file)
	if err != nil {
		return fmt.Errorf("rulesFile: %w", err)
	}
	var rf RulesFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		return fmt.Errorf("rulesFile %s: %w", p.file, err)
	}
	c, err := CompileRules("rules", rf.Rules)
	if err != nil {
		return fmt.Errorf("rulesFile %s: %w", p.file, err)
	}
	p.rules.Store(&c)
	p.modTime = st.ModTime()
	return nil
}

// Watch reloads the rules file when reload receives or its modification
// time changes (checked every interval), until ctx ends.
func (p *Policy) Watch(ctx context.Context, interval time.Duration, reload <-chan os.Signal, log *slog.Logger) {
	if p.file == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
		case <-t.C:
			if st, err := os.Stat(p.file); err != nil || st.ModTime().Equal(p.modTime) {
				continue
			}
		}
		if err := p.Reload(); err != nil {
			log.Error("rules not reloaded; the previous rules stay in force", "err", err)
			continue
		}
		log.Info("authorization rules reloaded", "file", p.file, "rules", len(*p.rules.Load()))
	}
}

// Allowed reports whether id may act at level on the namespace of the
// cluster. A namespace of "*" asks for every namespace (a rule must say "*").
func (p *Policy) Allowed(id Identity, level Level, cluster, namespace string) bool {
	for _, r := range *p.rules.Load() {
		if r.level >= level && r.appliesTo(id) && matchAny(r.Clusters, cluster) && matchAny(r.Namespaces, namespace) {
			return true
		}
	}
	return false
}

// AnyIn reports whether id may act at level on some namespace of the cluster.
func (p *Policy) AnyIn(id Identity, level Level, cluster string) bool {
	for _, r := range *p.rules.Load() {
		if r.level >= level && r.appliesTo(id) && matchAny(r.Clusters, cluster) {
			return true
		}
	}
	return false
}

// ErrNoRules is returned when neither rules nor a rules file is configured
// although callers must be authorized.
var ErrNoRules = errors.New("no authorization rules")
