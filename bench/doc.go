// Package bench measures helmgraph's fleet read path against the plain Helm
// SDK over the same real API servers in the same run, so that the numbers in
// docs/benchmarks.md compare like with like. Its benchmarks start their API
// servers only when -test.bench is given; without it `go test ./...` merely
// compiles the package and runs its small servers-free tests. Fleets are
// seeded by writing release revisions through Helm's own storage layer, the
// way Helm persists them, because installing thousands of revisions through
// actions would take far longer than the measurements themselves.
package bench
