package charts_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/internal/testenv"
)

// Repositories added at runtime are kept sealed and come back after a restart.
func TestPersistRuntimeRepositories(t *testing.T) {
	const pw = "runtime-repo-pw-77aa"
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "ci", Password: pw})
	repo.Add(t, testenv.PackageChart(t, chart("hello", "1.0.0")))
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	sealer := func(k []byte) *auth.Sealer {
		s, err := auth.NewSealer(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	open := func(k []byte) *charts.Registry {
		r := charts.NewRegistry(charts.Options{Persist: &charts.Persistence{Store: charts.DirStore{Dir: dir}, Sealer: sealer(k)}})
		t.Cleanup(r.Close)
		return r
	}
	first := open(key)
	if _, err := first.Add(t.Context(), charts.Config{Name: "kept", URL: repo.URL, Username: "ci", Password: pw}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kept.sealed"))
	if err != nil {
		t.Fatalf("the added repository was not kept: %v", err)
	}
	for _, leak := range []string{pw, base64.StdEncoding.EncodeToString([]byte(pw)), "ci", repo.URL} {
		if strings.Contains(string(b), leak) {
			t.Errorf("the kept file holds %q in clear", leak)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "kept.sealed")); st.Mode().Perm() != 0o600 {
		t.Errorf("kept file mode %v, want 0600", st.Mode().Perm())
	}

	second := open(key)
	if err := second.Restore(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The repository asks for credentials: a refresh that works proves them restored.
	if _, err := second.Refresh(t.Context(), "kept"); err != nil {
		t.Fatalf("refresh of the restored repository: %v", err)
	}
	p, err := second.Charts(t.Context(), "kept", "", nil, "")
	if err != nil || len(p.Items) != 1 || p.Items[0].Name != "hello" || !p.Repository.HasCredentials {
		t.Fatalf("restored repository: %+v, %v; want chart hello with credentials", p, err)
	}

	wrong := open(bytes.Repeat([]byte{8}, 32))
	if err := wrong.Restore(t.Context()); err == nil || !strings.Contains(err.Error(), "does not open") || strings.Contains(err.Error(), pw) {
		t.Errorf("Restore with the wrong key: %v, want a refusal", err)
	}

	if err := second.Remove("kept"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept.sealed")); !os.IsNotExist(err) {
		t.Errorf("removed repository still kept: %v", err)
	}
}
