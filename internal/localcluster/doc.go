// Package localcluster launches real local Kubernetes components for
// `helmgraph demo` and for tests: a kube-apiserver with embedded etcd built
// from k8s.io/kubernetes (tools/kube-apiserver), and the Helm SDK calls that
// seed it with releases. It builds the tools once and caches the binaries
// under a directory keyed by the hash of their sources, because a cold build
// of Kubernetes takes minutes on a small machine.
package localcluster
