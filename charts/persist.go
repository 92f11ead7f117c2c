package charts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sealer encrypts what is kept at rest (auth.Sealer).
type Sealer interface {
	Seal(plain, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// RepoStore keeps the repositories added at runtime, so that they outlive
// a restart. It only ever sees sealed configs: passwords, tokens and CAs
// are encrypted before they reach it.
type RepoStore interface {
	Save(ctx context.Context, name string, sealed []byte) error
	Delete(ctx context.Context, name string) error
	Load(ctx context.Context) (map[string][]byte, error)
}

// Persistence is Options.Persist: where runtime repositories are kept and
// the sealer that encrypts them.
type Persistence struct {
	Store  RepoStore
	Sealer Sealer
}

func sealAAD(name string) []byte { return []byte("helmgraph repository " + name) }

// persist keeps a repository added at runtime, sealed.
func (r *Registry) persist(ctx context.Context, c Config) error {
	p := r.opts.Persist
	if p == nil {
		return nil
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return err
	}
	sealed, err := p.Sealer.Seal(plain, sealAAD(c.Name))
	if err != nil {
		return err
	}
	return p.Store.Save(ctx, c.Name, sealed)
}

// Restore adds the repositories kept by Options.Persist, without asking
// them (an unreachable repository must not stop helmgraph from starting).
func (r *Registry) Restore(ctx context.Context) error {
	p := r.opts.Persist
	if p == nil {
		return nil
	}
	kept, err := p.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("runtime repositories: %w", err)
	}
	var errs []error
	for name, sealed := range kept {
		plain, err := p.Sealer.Open(sealed, sealAAD(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime repository %q: %w", name, err))
			continue
		}
		var c Config
		if err := json.Unmarshal(plain, &c); err != nil || c.Name != name {
			errs = append(errs, fmt.Errorf("runtime repository %q: malformed", name))
			continue
		}
		field := func(f string) string { return "runtime repository " + name + ": " + f }
		if _, err := r.add(ctx, c, field, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DirStore keeps sealed repositories as files (mode 0600) in a directory.
type DirStore struct{ Dir string }

const sealedExt = ".sealed"

func (d DirStore) path(name string) string { return filepath.Join(d.Dir, name+sealedExt) }

func (d DirStore) Save(_ context.Context, name string, sealed []byte) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(sealed); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), d.path(name)) // whole or not at all
}

func (d DirStore) Delete(_ context.Context, name string) error {
	if err := os.Remove(d.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (d DirStore) Load(context.Context) (map[string][]byte, error) {
	ents, err := os.ReadDir(d.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), sealedExt)
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.Dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}
