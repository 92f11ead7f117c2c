package clusters

import (
	"fmt"
	"log/slog"

	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters/tiller"
)

// tillerDriver builds the tiller driver of a cluster: direct to
// c.Address, or by port-forward through the API server of rc.
func tillerDriver(c Config, rc *rest.Config, log *slog.Logger) (Driver, error) {
	var tr tiller.Transport
	switch t := c.EffectiveTransport(); t {
	case TransportDirect:
		tr = tiller.Direct{Addr: c.Address}
	case TransportPortForward:
		tr = &tiller.PortForward{Cluster: c.Name, REST: rc, Namespace: c.TillerNamespace, Selector: c.TillerLabels, Port: c.TillerPort}
	default:
		return nil, fmt.Errorf("tiller driver: unknown transport %q", t)
	}
	cfg := tiller.Config{Cluster: c.Name, Transport: tr, Logger: log}
	if tl := c.TLS; tl != nil {
		cfg.TLS = &tiller.TLS{CAFile: tl.CAFile, CertFile: tl.CertFile, KeyFile: tl.KeyFile, ServerName: tl.ServerName, InsecureSkipVerify: tl.InsecureSkipVerify}
	}
	return tiller.New(cfg)
}
