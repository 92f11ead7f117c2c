package clusters

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"

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
		cfg.TLS = &tiller.TLS{CAFile: tl.CAFile, CertFile: tl.CertFile, KeyFile: tl.KeyFile, ServerName: tl.ServerName, InsecureSkipVerify: tl.InsecureSkipVerify}
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
			tc, err := tlsClientConfig(*tl)
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

func tlsClientConfig(c TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls CA %q: no certificates found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
