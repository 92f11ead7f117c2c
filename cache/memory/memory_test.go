package memory_test

import (
	"testing"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/cache/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (cache.Backend, cache.Backend) {
		b := memory.New()
		return b, b // one process: both "replicas" share the one backend
	})
}
