// Package cache keeps every cluster's releases where queries can read them
// without asking the cluster: a Store (in memory, or in Redis shared by
// several replicas), fed by one sync loop per cluster (list, then watch),
// with a Bus that carries release events to every replica and a Hub that fans
// them out to subscribers. The cluster stays the source of truth: anything
// the cache cannot answer is read live through the cluster's driver.
package cache
