// Package testenv gives tests real components to talk to: kube-apiservers
// built from k8s.io/kubernetes, started once per test package from TestMain
// and shared by its tests. It is never imported by production code.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/internal/localcluster"
)

// Env is a set of running API servers.
type Env struct {
	Dir     string
	Servers []*localcluster.APIServer
}

// Start builds the API server if needed and starts one per name. Call it
// from TestMain and Stop the Env when the tests are done.
func Start(names ...string) (*Env, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "helmgraph-testenv-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir}
	bin, err := localcluster.BuildAPIServer(ctx, os.Stderr)
	if err != nil {
		return e, err
	}
	for _, n := range names {
		s, err := localcluster.StartAPIServer(ctx, localcluster.APIServerOptions{Name: n, Dir: filepath.Join(dir, n), Binary: bin})
		if err != nil {
			return e, fmt.Errorf("start %s: %w", n, err)
		}
		e.Servers = append(e.Servers, s)
	}
	return e, nil
}

// Stop stops every server and removes their data.
func (e *Env) Stop() {
	for _, s := range e.Servers {
		s.Stop()
	}
	os.RemoveAll(e.Dir)
}

// Server returns the server of the named cluster.
func (e *Env) Server(name string) *localcluster.APIServer {
	for _, s := range e.Servers {
		if s.Name == name {
			return s
		}
	}
	panic("testenv: no server " + name)
}

// REST returns an admin client config for the named cluster.
func (e *Env) REST(name string) *rest.Config { return e.Server(name).RESTConfig() }

// Configs returns helm-driver cluster configs for the servers, alternating
// the two credential styles (kubeconfig, and server + token file + CA file)
// so both are exercised.
func (e *Env) Configs() []clusters.Config {
	var out []clusters.Config
	for i, s := range e.Servers {
		c := clusters.Config{Name: s.Name, Driver: "helm"}
		if i%2 == 0 {
			c.Kubeconfig = s.KubeconfigPath
		} else {
			c.Server, c.TokenFile, c.CAFile = s.URL, s.TokenFile, s.CAFile
		}
		out = append(out, c)
	}
	return out
}

// Main runs a test package's tests with API servers of the given names
// shared through *env, and exits.
func Main(m *testing.M, env **Env, names ...string) {
	e, err := Start(names...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		if e != nil {
			e.Stop()
		}
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	e.Stop()
	os.Exit(code)
}
