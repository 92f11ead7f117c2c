package testenv

import "github.com/helmgraph/helmgraph/internal/localcluster"

// SwiftGateway is the swift-compatible HTTP/JSON gateway over a real Tiller
// that the swift driver is tested against (swift's documented routes and
// JSON; see localcluster.SwiftGateway, which the demo also runs).
type SwiftGateway = localcluster.SwiftGateway

// NewSwiftGateway connects a gateway to the Tiller at tillerAddr; it
// announces clientVersion to Tiller as swift's Helm client does.
func NewSwiftGateway(tillerAddr, clientVersion string) (*SwiftGateway, error) {
	return localcluster.NewSwiftGateway(tillerAddr, clientVersion)
}
