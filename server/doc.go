// Package server wires helmgraph's HTTP surface: the GraphQL handler
// (POST and GET on /graphql), the built-in query page at /, health and
// readiness probes and Prometheus metrics, with graceful shutdown. It holds
// no logic of its own beyond HTTP concerns.
package server
