// Package helmgraph is the root of the helmgraph module; it holds only the
// go:generate directive that turns schema.graphqls into graph/.
package helmgraph

//go:generate go tool gqlgen generate
