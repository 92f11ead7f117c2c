package localcluster

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
)

// DemoClusterNames are the names of the demo's clusters, in order.
var DemoClusterNames = []string{"dev", "prod"}

// Demo is a set of running demo clusters seeded with releases.
type Demo struct {
	Servers  []*APIServer
	Clusters []clusters.Config
}

// StartDemo builds the API server if needed, starts one per demo cluster
// under dir and seeds each with releases. On error, the caller still
// stops what was started.
func StartDemo(ctx context.Context, dir string, log io.Writer) (*Demo, error) {
	bin, err := BuildAPIServer(ctx, log)
	if err != nil {
		return nil, err
	}
	d := &Demo{}
	for i, name := range DemoClusterNames {
		start := time.Now()
		s, err := StartAPIServer(ctx, APIServerOptions{Name: name, Dir: filepath.Join(dir, name), Binary: bin, Log: log})
		if err != nil {
			return d, err
		}
		d.Servers = append(d.Servers, s)
		fmt.Fprintf(log, "seeding cluster %s with demo releases...\n", name)
		if err := SeedDemo(ctx, s.RESTConfig(), i, log); err != nil {
			return d, fmt.Errorf("seed %s: %w", name, err)
		}
		fmt.Fprintf(log, "cluster %s ready in %s\n", name, time.Since(start).Round(100*time.Millisecond))
		d.Clusters = append(d.Clusters, clusters.Config{Name: name, Driver: "helm", Kubeconfig: s.KubeconfigPath})
	}
	return d, nil
}

// Stop stops every demo server.
func (d *Demo) Stop() {
	for _, s := range d.Servers {
		s.Stop()
	}
}
