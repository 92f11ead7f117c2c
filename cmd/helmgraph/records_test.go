package main

import (
	"strings"
	"testing"

	"github.com/helmgraph/helmgraph/cache/redis"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/internal/testenv"
)

// Without runtimeRepositories.dir, repositories added at runtime are sealed
// into the cache store: in Redis, every replica finds them, and nothing in
// Redis holds their credentials in clear.
func TestRuntimeRepositoriesInTheStore(t *testing.T) {
	const pw = "store-kept-pw-51c2"
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "ci", Password: pw})
	repo.Add(t, testenv.PackageChart(t, testenv.Chart{Name: "hello", Version: "1.0.0", AppVersion: "1",
		Templates: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"}}))
	rs, err := testenv.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	t.Setenv("HG_TEST_REPO_KEY", strings.Repeat("k", 32))
	open := func() (*charts.Registry, *redis.Backend) {
		b, err := redis.New(redis.Config{Address: "redis://" + rs.Addr + "/0", KeyPrefix: "records-test:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		p, err := (&keptConfig{KeyEnv: "HG_TEST_REPO_KEY"}).persistence(b)
		if err != nil {
			t.Fatal(err)
		}
		r := charts.NewRegistry(charts.Options{Persist: p})
		t.Cleanup(r.Close)
		return r, b
	}
	first, backend := open()
	if _, err := first.Add(t.Context(), charts.Config{Name: "kept", URL: repo.URL, Username: "ci", Password: pw}); err != nil {
		t.Fatal(err)
	}
	recs, err := backend.LoadRecords(t.Context(), repositoryRecords)
	if err != nil || len(recs["kept"]) == 0 {
		t.Fatalf("records = %v, %v; want the sealed repository", recs, err)
	}
	for _, leak := range []string{pw, repo.URL} {
		if strings.Contains(string(recs["kept"]), leak) {
			t.Errorf("the record holds %q in clear", leak)
		}
	}
	second, _ := open() // another replica
	if err := second.Restore(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Refresh(t.Context(), "kept"); err != nil {
		t.Fatalf("the other replica's copy lacks working credentials: %v", err)
	}
	if err := second.Remove("kept"); err != nil {
		t.Fatal(err)
	}
	if recs, _ := backend.LoadRecords(t.Context(), repositoryRecords); len(recs) != 0 {
		t.Errorf("removed repository still in the store: %v", recs)
	}
}
