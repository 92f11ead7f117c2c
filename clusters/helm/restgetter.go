package helm

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// NewRESTClientGetter adapts a *rest.Config to what Helm's action and kube
// packages take (action.Configuration.Init, kube.New). Helm's CLI builds that
// from kubeconfig flags; helmgraph has rest.Configs from its own cluster
// configuration and from the local test clusters instead. namespace is where
// objects without one in their manifest go ("" means "default").
func NewRESTClientGetter(rc *rest.Config, namespace string) genericclioptions.RESTClientGetter {
	return &restClientGetter{config: rest.CopyConfig(rc), namespace: namespace, discovery: &sharedDiscovery{}}
}

type restClientGetter struct {
	config    *rest.Config
	namespace string
	discovery *sharedDiscovery
}

// sharedDiscovery lets the getters of one cluster's namespaces share a single
// discovery cache and REST mapper, so discovery runs once per cluster rather
// than once per namespace.
type sharedDiscovery struct {
	once   sync.Once
	client discovery.CachedDiscoveryInterface
	mapper meta.RESTMapper
	err    error
}

func (g *restClientGetter) forNamespace(namespace string) *restClientGetter {
	return &restClientGetter{config: g.config, namespace: namespace, discovery: g.discovery}
}

func (g *restClientGetter) ToRESTConfig() (*rest.Config, error) {
	return rest.CopyConfig(g.config), nil
}

func (g *restClientGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	d := g.discovery
	d.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.config))
		if err != nil {
			d.err = err
			return
		}
		d.client = memory.NewMemCacheClient(dc)
		d.mapper = restmapper.NewDeferredDiscoveryRESTMapper(d.client)
	})
	return d.client, d.err
}

func (g *restClientGetter) ToRESTMapper() (meta.RESTMapper, error) {
	if _, err := g.ToDiscoveryClient(); err != nil {
		return nil, err
	}
	return g.discovery.mapper, nil
}

func (g *restClientGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return restClientConfig{g}
}

// restClientConfig answers kubectl's questions about "the kubeconfig" from the
// rest.Config; kubectl's factory asks it mainly for the default namespace.
type restClientConfig struct{ g *restClientGetter }

func (c restClientConfig) RawConfig() (clientcmdapi.Config, error) {
	return *clientcmdapi.NewConfig(), nil
}

func (c restClientConfig) ClientConfig() (*rest.Config, error) { return c.g.ToRESTConfig() }

func (c restClientConfig) Namespace() (string, bool, error) {
	if c.g.namespace == "" {
		return "default", false, nil
	}
	return c.g.namespace, true, nil
}

func (c restClientConfig) ConfigAccess() clientcmd.ConfigAccess {
	return clientcmd.NewDefaultPathOptions()
}
