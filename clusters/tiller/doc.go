// Package tiller is the clusters.Driver for Helm v2 clusters: it speaks
// Tiller's gRPC protocol (k8s.io/helm's hapi messages), reaching Tiller
// either directly at host:port or through the cluster's API server by
// port-forward to the Tiller pod, as the Helm v2 client did. Helm v2
// messages are converted to release types at this package's edge (convert.go,
// also used by the swift driver, which serves the same messages as JSON).
package tiller
