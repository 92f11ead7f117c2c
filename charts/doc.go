// Package charts is where helmgraph gets charts from: HTTP chart repositories
// serving an index.yaml (plain, ChartMuseum, Harbor), OCI registries reached
// through the Helm SDK's registry client, and archives uploaded by clients.
// Each HTTP repository's index is fetched in the background and kept in
// memory, so browsing charts never waits on a repository. Resolving a chart
// downloads its archive with size caps and loads it with the Helm SDK's loader,
// so that a broken archive is refused before any cluster is touched.
// Credentials are kept here and never returned or logged.
package charts
