package ops_test

import (
	"testing"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/ops/opstest"
)

func TestMemoryStoreConformance(t *testing.T) {
	opstest.StoreSuite(t, func(*testing.T) ops.Store { return ops.NewMemoryStore(0) })
}
