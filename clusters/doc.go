// Package clusters is helmgraph's view of the fleet: the cluster
// configuration, the Registry that holds one Driver per cluster, and the
// fan-out that asks every cluster in parallel with a bounded pool and a
// timeout per call, so that a cluster that is down becomes a ClusterError
// beside everyone else's data rather than a failed or hanging query.
// Filtering and keyset pagination over the merged result live here too.
package clusters
