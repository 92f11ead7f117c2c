package localcluster

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters/helm"
)

// The demo charts are embedded so that seeding needs no chart repository and
// produces exactly the same releases everywhere. "all:" keeps _helpers.tpl.
//
//go:embed all:charts
var chartFiles embed.FS

// defaultTimeout bounds a Helm operation whose ctx has no deadline.
const defaultTimeout = 2 * time.Minute

// LoadChart loads one of the embedded charts; name is its directory under
// charts/ ("webapp", "cache", "jobs").
func LoadChart(name string) (*chartv2.Chart, error) {
	files, err := ChartFiles(name)
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", name, err)
	}
	return ch, nil
}

// ChartFiles returns the files of one of the embedded charts, named by their
// path inside the chart's directory.
func ChartFiles(name string) ([]*archive.BufferedFile, error) {
	root := path.Join("charts", name)
	if name == "" || strings.Contains(name, "/") || !fs.ValidPath(root) {
		return nil, fmt.Errorf("chart %q: not an embedded chart name", name)
	}
	var files []*archive.BufferedFile
	err := fs.WalkDir(chartFiles, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := chartFiles.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: strings.TrimPrefix(p, root+"/"), Data: data})
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chart %q: no such embedded chart", name)
	}
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", name, err)
	}
	return files, nil
}

// InstallRelease installs an embedded chart as `helm install` would, creating
// the namespace (and its default ServiceAccount) if missing.
func InstallRelease(ctx context.Context, rc *rest.Config, namespace, name, chart string, values map[string]any) error {
	ch, err := LoadChart(chart)
	if err != nil {
		return err
	}
	if err := ensureNamespace(ctx, rc, namespace); err != nil {
		return err
	}
	cfg, err := actionConfig(rc, namespace)
	if err != nil {
		return err
	}
	in := action.NewInstall(cfg)
	in.Namespace = namespace
	in.ReleaseName = name
	in.CreateNamespace = true
	// No kubelet or controllers run in the local clusters: nothing would ever
	// become ready, so wait only for hooks (the charts have none).
	in.WaitStrategy = kube.HookOnlyStrategy
	in.Timeout = timeout(ctx)
	if _, err := in.RunWithContext(ctx, ch, values); err != nil {
		return fmt.Errorf("install release %q (chart %s) in namespace %q: %w", name, chart, namespace, err)
	}
	return nil
}

// UpgradeRelease upgrades a release to an embedded chart as `helm upgrade`
// would: values replace the previous revision's (empty values reuse them).
// When the cluster rejects the new objects the error is returned and Helm has
// recorded the new revision as failed.
func UpgradeRelease(ctx context.Context, rc *rest.Config, namespace, name, chart string, values map[string]any) error {
	ch, err := LoadChart(chart)
	if err != nil {
		return err
	}
	cfg, err := actionConfig(rc, namespace)
	if err != nil {
		return err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.WaitStrategy = kube.HookOnlyStrategy
	up.Timeout = timeout(ctx)
	if _, err := up.RunWithContext(ctx, name, ch, values); err != nil {
		return fmt.Errorf("upgrade release %q (chart %s) in namespace %q: %w", name, chart, namespace, err)
	}
	return nil
}

// UninstallRelease uninstalls a release as `helm uninstall` would;
// keepHistory keeps its revisions, the last one marked uninstalled.
func UninstallRelease(ctx context.Context, rc *rest.Config, namespace, name string, keepHistory bool) error {
	cfg, err := actionConfig(rc, namespace)
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.KeepHistory = keepHistory
	un.WaitStrategy = kube.HookOnlyStrategy
	un.Timeout = timeout(ctx)
	// Helm's uninstall takes no context; run it aside so ctx still bounds the
	// caller's wait.
	done := make(chan error, 1)
	go func() {
		_, err := un.Run(name)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("uninstall release %q in namespace %q: %w", name, namespace, err)
	}
	return nil
}

// seedStep is one Helm operation of a demo cluster's history.
type seedStep struct {
	op        string // install, upgrade, fail (an upgrade that must fail), uninstall
	namespace string
	name      string
	chart     string
	values    map[string]any
}

// demoSteps give each demo cluster releases of every chart in every status a
// client should be able to show: several revisions, a failed upgrade on top
// of a deployed revision, an uninstalled release whose history was kept.
var demoSteps = [][]seedStep{
	{
		{"install", "web", "frontend", "webapp", map[string]any{"replicaCount": 2, "message": "welcome to the shop"}},
		{"upgrade", "web", "frontend", "webapp", map[string]any{"replicaCount": 3, "message": "welcome to the shop", "image": map[string]any{"tag": "6.5.1"}}},
		{"upgrade", "web", "frontend", "webapp", map[string]any{"replicaCount": 3, "message": "welcome back", "image": map[string]any{"tag": "6.5.2"}}},
		{"install", "web", "api", "webapp", map[string]any{"message": "api v1", "service": map[string]any{"port": 8080}}},
		{"fail", "web", "api", "webapp", map[string]any{"message": "api v2", "breakMe": true}},
		{"install", "data", "cache", "cache", map[string]any{"maxmemory": "128mb"}},
		{"upgrade", "data", "cache", "cache", map[string]any{"maxmemory": "256mb", "replicas": 2}},
		{"install", "batch", "nightly-report", "jobs", map[string]any{"schedule": "0 2 * * *"}},
		{"uninstall", "batch", "nightly-report", "", nil},
		{"install", "batch", "cleanup", "jobs", map[string]any{"schedule": "*/30 * * * *"}},
	},
	{
		{"install", "web", "storefront", "webapp", map[string]any{"message": "storefront"}},
		{"upgrade", "web", "storefront", "webapp", map[string]any{"message": "storefront", "replicaCount": 2}},
		{"install", "data", "sessions", "cache", map[string]any{"evictionPolicy": "volatile-lru"}},
		{"fail", "data", "sessions", "cache", map[string]any{"evictionPolicy": "volatile-lru", "breakMe": true}},
		{"install", "batch", "backup", "jobs", map[string]any{"schedule": "0 1 * * *"}},
		{"upgrade", "batch", "backup", "jobs", map[string]any{"schedule": "0 4 * * *", "suspend": true}},
		{"install", "batch", "legacy-import", "jobs", nil},
		{"uninstall", "batch", "legacy-import", "", nil},
	},
}

// SeedDemo installs the demo releases of demo cluster number cluster (0 or
// 1), reporting each step to log. A cluster that already holds Helm releases
// in the demo's namespaces is left as it is, so a restarted demo keeps its
// data.
func SeedDemo(ctx context.Context, rc *rest.Config, cluster int, log io.Writer) error {
	if cluster < 0 || cluster >= len(demoSteps) {
		return fmt.Errorf("demo cluster %d: there are only %d demo clusters", cluster, len(demoSteps))
	}
	if log == nil {
		log = io.Discard
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("demo cluster %d: %w", cluster, err)
	}
	steps := demoSteps[cluster]
	seen := map[string]bool{}
	for _, s := range steps {
		if seen[s.namespace] {
			continue
		}
		seen[s.namespace] = true
		existing, err := cs.CoreV1().Secrets(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm", Limit: 1})
		if err != nil {
			return fmt.Errorf("demo cluster %d: look for releases in namespace %q: %w", cluster, s.namespace, err)
		}
		if len(existing.Items) > 0 {
			fmt.Fprintf(log, "demo cluster %d already has helm releases in namespace %q; not seeding\n", cluster, s.namespace)
			return nil
		}
	}
	for _, s := range steps {
		var err error
		switch s.op {
		case "install":
			err = InstallRelease(ctx, rc, s.namespace, s.name, s.chart, s.values)
		case "upgrade":
			err = UpgradeRelease(ctx, rc, s.namespace, s.name, s.chart, s.values)
		case "fail":
			// Only the API server's refusal of the broken object is the
			// failure the demo wants; anything else is a real error.
			err = UpgradeRelease(ctx, rc, s.namespace, s.name, s.chart, s.values)
			switch {
			case err == nil:
				err = fmt.Errorf("upgrade of release %q in namespace %q succeeded but was meant to fail", s.name, s.namespace)
			case strings.Contains(err.Error(), "Bad_Name"):
				err = nil
			}
		case "uninstall":
			err = UninstallRelease(ctx, rc, s.namespace, s.name, true)
		}
		if err != nil {
			return fmt.Errorf("demo cluster %d: %w", cluster, err)
		}
		fmt.Fprintf(log, "demo cluster %d: %s %s/%s\n", cluster, s.op, s.namespace, s.name)
	}
	return nil
}

// actionConfig builds the Helm action configuration for namespace, storing
// releases in Secrets as Helm does by default.
func actionConfig(rc *rest.Config, namespace string) (*action.Configuration, error) {
	rc = rest.CopyConfig(rc)
	rc.WarningHandler = rest.NoWarnings{}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	if err := cfg.Init(helm.NewRESTClientGetter(rc, namespace), namespace, helm.StorageSecret); err != nil {
		return nil, fmt.Errorf("helm configuration for namespace %q: %w", namespace, err)
	}
	return cfg, nil
}

// ensureNamespace creates namespace and its default ServiceAccount if they
// are missing: without a controller-manager nobody else creates the account,
// and Pods cannot be created in a namespace without it.
func ensureNamespace(ctx context.Context, rc *rest.Config, namespace string) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %q: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create default service account in namespace %q: %w", namespace, err)
	}
	return nil
}

func timeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return defaultTimeout
}
