// Package release is the domain model every part of helmgraph shares: a
// release's identity (Ref), its unified Status, its cheap Summary and the
// heavy Release detail. Drivers convert their SDK's types into these at their
// edge, so nothing above the drivers depends on Helm 2, Helm 3/4 or swift types.
package release
