package localcluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/helm/pkg/proto/hapi/services"

	"github.com/helmgraph/helmgraph/clusters"
)

// DemoClusterNames are the names of the demo's Helm 3/4 clusters, in order.
var DemoClusterNames = []string{"dev", "prod"}

// The demo's Helm v2 clusters: a Tiller reached by port-forward through its
// API server, and the same Tiller read through a swift-compatible gateway.
const (
	DemoTillerCluster = "legacy"
	DemoSwiftCluster  = "legacy-swift"
)

// Demo is a set of running demo clusters seeded with releases.
type Demo struct {
	Servers  []*APIServer
	Clusters []clusters.Config

	tiller  *Tiller
	agent   *NodeAgent
	gateway *SwiftGateway
	swiftL  net.Listener
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
	if err := d.startV2(ctx, bin, dir, log); err != nil {
		return d, fmt.Errorf("helm v2 clusters: %w", err)
	}
	return d, nil
}

// startV2 starts the Helm v2 cluster: an API server with a real Tiller
// storing the Helm v2 fixture (SeedTiller), a node agent so that the API
// server can port-forward to the Tiller pod, and a swift-compatible gateway
// over the same Tiller on loopback.
func (d *Demo) startV2(ctx context.Context, apiBin, dir string, log io.Writer) error {
	start := time.Now()
	tillerBin, err := BuildTiller(ctx, log)
	if err != nil {
		return err
	}
	s, err := StartAPIServer(ctx, APIServerOptions{Name: DemoTillerCluster, Dir: filepath.Join(dir, DemoTillerCluster), Binary: apiBin, Log: log})
	if err != nil {
		return err
	}
	d.Servers = append(d.Servers, s)
	if d.tiller, err = StartTiller(ctx, TillerOptions{Binary: tillerBin, Dir: filepath.Join(dir, DemoTillerCluster, "tiller"), Kubeconfig: s.KubeconfigPath, Log: log}); err != nil {
		return err
	}
	seeded, err := tillerSeeded(ctx, d.tiller.Addr)
	if err != nil {
		return err
	}
	if !seeded { // a kept --dir already has them
		fmt.Fprintf(log, "seeding cluster %s with Helm v2 releases through Tiller...\n", DemoTillerCluster)
		if err := SeedTiller(ctx, d.tiller.Addr); err != nil {
			return err
		}
	}
	if d.agent, err = StartNodeAgent(); err != nil {
		return err
	}
	rc := s.RESTConfig()
	if err := RegisterNode(ctx, rc, d.agent); err != nil {
		return err
	}
	if err := RegisterTillerPod(ctx, rc, d.agent, d.tiller.Addr); err != nil {
		return err
	}
	if d.gateway, err = NewSwiftGateway(d.tiller.Addr, TillerVersion); err != nil {
		return err
	}
	if d.swiftL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	go d.gateway.ServeSwift(d.swiftL)
	d.Clusters = append(d.Clusters,
		clusters.Config{Name: DemoTillerCluster, Driver: "tiller", Transport: clusters.TransportPortForward, Kubeconfig: s.KubeconfigPath},
		clusters.Config{Name: DemoSwiftCluster, Driver: "swift", Transport: clusters.TransportDirect, Address: "http://" + d.swiftL.Addr().String()},
	)
	fmt.Fprintf(log, "clusters %s (tiller, port-forward) and %s (swift at http://%s) ready in %s\n",
		DemoTillerCluster, DemoSwiftCluster, d.swiftL.Addr(), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// tillerSeeded says whether the demo's Helm v2 releases are already there.
func tillerSeeded(ctx context.Context, addr string) (bool, error) {
	c, err := DialTiller(addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_, err = c.svc.GetHistory(c.ctx(ctx), &services.GetHistoryRequest{Name: "frontend", Max: 1})
	switch {
	case err == nil:
		return true, nil
	case strings.Contains(err.Error(), "not found"):
		return false, nil
	}
	return false, fmt.Errorf("ask tiller for the demo releases: %w", err)
}

// Stop stops every demo server.
func (d *Demo) Stop() {
	if d.swiftL != nil {
		d.swiftL.Close()
	}
	if d.gateway != nil {
		d.gateway.Close()
	}
	if d.agent != nil {
		d.agent.Stop()
	}
	if d.tiller != nil {
		d.tiller.Stop()
	}
	for _, s := range d.Servers {
		s.Stop()
	}
}
