package bench

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/engine"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/internal/localcluster"
)

// fleet is the shape of one seeded cluster.
type fleet struct {
	Namespaces []string
	Releases   int // per cluster, spread round-robin over Namespaces
	Revisions  int // per release; all but the last are superseded
	// ExtraFileBytes, when set, adds a file of that many random (so
	// incompressible) bytes to the chart, as charts that bundle files carry:
	// every stored revision grows by it.
	ExtraFileBytes int
}

// releaseName and namespace place release i of a cluster.
func (f fleet) releaseName(i int) string { return fmt.Sprintf("app-%03d", i) }
func (f fleet) namespace(i int) string   { return f.Namespaces[i%len(f.Namespaces)] }

// seedWorkers bounds the concurrent release writers of one cluster. Each
// writer renders a chart and creates a Secret; the API server, on the same two
// cores, is the bottleneck well before this.
const seedWorkers = 8

// seedCluster writes every revision of every release of f into stores, one
// Helm storage per namespace, as Helm's install and upgrade actions would have
// left them: the chart, the user-supplied values, the rendered manifest and
// notes, and an Info whose statuses go superseded ... superseded, deployed.
func seedCluster(ctx context.Context, f fleet, stores map[string]*storage.Storage, now time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range seedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A chart per writer: rendering coalesces values into maps
			// reachable from the chart, so writers do not share one.
			ch, err := localcluster.LoadChart("webapp")
			if err != nil {
				cancel(err)
				return
			}
			if f.ExtraFileBytes > 0 {
				blob := make([]byte, f.ExtraFileBytes)
				_, _ = crand.Read(blob)
				ch.Files = append(ch.Files, &chartcommon.File{Name: "files/blob.bin", Data: blob})
			}
			for i := range jobs {
				if err := seedRelease(f, ch, stores[f.namespace(i)], i, now); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
feed:
	for i := range f.Releases {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
}

func seedRelease(f fleet, ch *chartv2.Chart, store *storage.Storage, i int, now time.Time) error {
	ns, name := f.namespace(i), f.releaseName(i)
	// Revision r of every release was deployed (Revisions-r) days and i
	// minutes ago, so that timestamps differ between releases too.
	first := now.Add(-time.Duration(f.Revisions)*24*time.Hour - time.Duration(i)*time.Minute)
	for rev := 1; rev <= f.Revisions; rev++ {
		rls, err := buildRevision(ch, ns, name, rev, rev == f.Revisions, first)
		if err != nil {
			return fmt.Errorf("build revision %d of release %q in namespace %q: %w", rev, name, ns, err)
		}
		if err := store.Create(rls); err != nil {
			return fmt.Errorf("store revision %d of release %q in namespace %q: %w", rev, name, ns, err)
		}
	}
	return nil
}

// buildRevision renders the chart with this revision's values the way Helm's
// actions do (render values, engine, NOTES.txt pulled out, manifests sorted in
// install order) and wraps the result in the Release Helm would store.
func buildRevision(ch *chartv2.Chart, namespace, name string, rev int, latest bool, first time.Time) (*rspb.Release, error) {
	vals := map[string]any{
		"replicaCount": 1 + rev%3,
		"message":      fmt.Sprintf("%s in %s, revision %d", name, namespace, rev),
		"image":        map[string]any{"tag": fmt.Sprintf("6.5.%d", rev-1)},
	}
	opts := chartcommon.ReleaseOptions{Name: name, Namespace: namespace, Revision: rev, IsInstall: rev == 1, IsUpgrade: rev > 1}
	top, err := chartutil.ToRenderValues(ch, vals, opts, chartcommon.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return nil, err
	}
	var notes string
	for k, v := range files {
		if strings.HasSuffix(k, "/NOTES.txt") {
			notes = v
			delete(files, k)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	var manifest strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&manifest, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	status, desc := rcommon.StatusSuperseded, "Upgrade complete"
	if latest {
		status = rcommon.StatusDeployed
	}
	if rev == 1 {
		desc = "Install complete"
	}
	return &rspb.Release{
		Name:      name,
		Namespace: namespace,
		Version:   rev,
		Chart:     ch,
		Config:    vals,
		Manifest:  manifest.String(),
		Hooks:     hooks,
		Info: &rspb.Info{
			FirstDeployed: first,
			LastDeployed:  first.Add(time.Duration(rev-1) * 24 * time.Hour),
			Description:   desc,
			Status:        status,
			Notes:         notes,
		},
		ApplyMethod: string(rspb.ApplyMethodServerSideApply), // Helm v4's default
	}, nil
}

// secretStores creates f's namespaces in the cluster and returns, for each, a
// Helm storage over the Secrets driver: the storage `helm` uses by default.
func secretStores(ctx context.Context, rc *rest.Config, f fleet) (map[string]*storage.Storage, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	for _, ns := range f.Namespaces {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create namespace %q: %w", ns, err)
		}
	}
	return storesFor(cs, f.Namespaces), nil
}

func storesFor(cs kubernetes.Interface, namespaces []string) map[string]*storage.Storage {
	stores := map[string]*storage.Storage{}
	for _, ns := range namespaces {
		d := driver.NewSecrets(cs.CoreV1().Secrets(ns))
		d.SetLogger(slog.DiscardHandler)
		stores[ns] = storage.Init(d) // takes the driver's (discarding) logger
	}
	return stores
}

// TestSeedClusterWritesHelmHistory checks the seeding helper without API
// servers: through Helm's Secrets driver over a fake clientset, every release
// must read back as Helm's own storage would present an upgraded release.
func TestSeedClusterWritesHelmHistory(t *testing.T) {
	f := fleet{Namespaces: []string{"web", "data"}, Releases: 5, Revisions: 3}
	cs := fake.NewClientset()
	stores := storesFor(cs, f.Namespaces)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := seedCluster(t.Context(), f, stores, now); err != nil {
		t.Fatal(err)
	}
	secrets, err := cs.CoreV1().Secrets("").List(t.Context(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(secrets.Items), f.Releases*f.Revisions; got != want {
		t.Errorf("helm Secrets = %d, want %d", got, want)
	}
	for i := range f.Releases {
		ns, name := f.namespace(i), f.releaseName(i)
		hist, err := stores[ns].History(name)
		if err != nil {
			t.Fatalf("history of %s/%s: %v", ns, name, err)
		}
		if len(hist) != f.Revisions {
			t.Fatalf("history of %s/%s: %d revisions, want %d", ns, name, len(hist), f.Revisions)
		}
		var prev time.Time
		for rev := 1; rev <= f.Revisions; rev++ {
			r, err := stores[ns].Get(name, rev)
			if err != nil {
				t.Fatalf("get %s/%s revision %d: %v", ns, name, rev, err)
			}
			rls := r.(*rspb.Release)
			want := rcommon.StatusSuperseded
			if rev == f.Revisions {
				want = rcommon.StatusDeployed
			}
			if rls.Info.Status != want || rls.Namespace != ns || rls.Chart.Metadata.Name != "webapp" {
				t.Errorf("%s/%s revision %d: status %s, namespace %s, chart %s; want %s, %s, webapp",
					ns, name, rev, rls.Info.Status, rls.Namespace, rls.Chart.Metadata.Name, want, ns)
			}
			if !strings.Contains(rls.Manifest, "kind: Deployment") || !strings.Contains(rls.Manifest, fmt.Sprintf("revision %d", rev)) || rls.Info.Notes == "" {
				t.Errorf("%s/%s revision %d: manifest or notes not rendered from its values:\n%s", ns, name, rev, rls.Manifest)
			}
			if !rls.Info.LastDeployed.After(prev) || rls.Info.LastDeployed.After(now) {
				t.Errorf("%s/%s revision %d: last deployed %s, want after %s and before %s", ns, name, rev, rls.Info.LastDeployed, prev, now)
			}
			prev = rls.Info.LastDeployed
		}
	}
}
