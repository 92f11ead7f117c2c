package helm_test

import (
	"testing"

	"github.com/helmgraph/helmgraph/internal/testenv"
)

// The reads every driver shares, on the same fixture as the tiller and swift
// drivers' (seed installs it with the Helm SDK).
func TestConformanceReads(t *testing.T) {
	testenv.DriverReads(t, newDriver(t, testCluster.RESTConfig(), ""), testenv.HelmFixture(clusterName))
}
