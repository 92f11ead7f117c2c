package clusters

import (
	"fmt"
	"log/slog"
	"net/http"

	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters/swift"
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
		t := tillerTLS(*tl)
		cfg.TLS = &t
	}
	return tiller.New(cfg)
}

// swiftDriver builds the swift driver of a cluster: direct to the base URL
// c.Address, or through the API server of rc's service proxy.
func swiftDriver(c Config, rc *rest.Config, log *slog.Logger) (Driver, error) {
	var ep swift.Endpoint
	switch t := c.EffectiveTransport(); t {
	case TransportDirect:
		client := &http.Client{Timeout: c.timeout()}
		if tl := c.TLS; tl != nil {
			tc, err := tillerTLS(*tl).ClientConfig()
			if err != nil {
				return nil, fmt.Errorf("swift driver: %w", err)
			}
			client.Transport = &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}
		}
		ep = swift.Direct{URL: c.Address, Client: client}
	case TransportServiceProxy:
		ep = &swift.ServiceProxy{Cluster: c.Name, REST: rc, Namespace: c.TillerNamespace, Service: c.SwiftService, Port: c.SwiftPort}
	default:
		return nil, fmt.Errorf("swift driver: unknown transport %q", t)
	}
	return swift.New(swift.Config{Cluster: c.Name, Endpoint: ep, Logger: log})
}

// tillerTLS is the TLS client configuration of c, as both Helm v2 drivers take it.
func tillerTLS(c TLSConfig) tiller.TLS {
	return tiller.TLS{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
}
