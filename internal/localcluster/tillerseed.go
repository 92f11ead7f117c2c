package localcluster

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	"k8s.io/helm/pkg/proto/hapi/services"
	"sigs.k8s.io/yaml"
)

// TillerChart converts one of the embedded charts into Helm v2's chart
// message, as Helm v2's chartutil.Load would: metadata from Chart.yaml,
// every file under templates/ as a template, values.yaml as raw values.
// The charts are written for Helm 3 (apiVersion v2) but use nothing Helm 2
// lacks, so they are sent as apiVersion v1 charts.
func TillerChart(name string) (*hapichart.Chart, error) {
	root := path.Join("charts", name)
	if name == "" || strings.Contains(name, "/") || !fs.ValidPath(root) {
		return nil, fmt.Errorf("chart %q: not an embedded chart name", name)
	}
	meta, err := chartFiles.ReadFile(path.Join(root, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", name, err)
	}
	ch := &hapichart.Chart{Metadata: &hapichart.Metadata{}, Values: &hapichart.Config{}}
	if err := yaml.Unmarshal(meta, ch.Metadata); err != nil {
		return nil, fmt.Errorf("chart %q: Chart.yaml: %w", name, err)
	}
	ch.Metadata.ApiVersion = "v1"
	if v, err := chartFiles.ReadFile(path.Join(root, "values.yaml")); err == nil {
		ch.Values.Raw = string(v)
	}
	err = fs.WalkDir(chartFiles, path.Join(root, "templates"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := chartFiles.ReadFile(p)
		if err != nil {
			return err
		}
		ch.Templates = append(ch.Templates, &hapichart.Template{Name: strings.TrimPrefix(p, root+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", name, err)
	}
	return ch, nil
}

// TillerClient installs, upgrades and deletes releases through a Tiller, as
// the Helm v2 CLI does; it seeds tests and the demo.
type TillerClient struct {
	conn *grpc.ClientConn
	svc  services.ReleaseServiceClient
}

// DialTiller connects to a Tiller without TLS.
func DialTiller(addr string) (*TillerClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return nil, fmt.Errorf("dial tiller %s: %w", addr, err)
	}
	return &TillerClient{conn: conn, svc: services.NewReleaseServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *TillerClient) Close() error { return c.conn.Close() }

func (c *TillerClient) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-helm-api-client", TillerVersion)
}

func rawValues(values map[string]any) (*hapichart.Config, error) {
	if len(values) == 0 {
		return &hapichart.Config{}, nil
	}
	b, err := yaml.Marshal(values)
	if err != nil {
		return nil, err
	}
	return &hapichart.Config{Raw: string(b)}, nil
}

// Install installs an embedded chart as release name in namespace (Tiller
// creates the namespace if needed).
func (c *TillerClient) Install(ctx context.Context, namespace, name, chart string, values map[string]any) error {
	ch, err := TillerChart(chart)
	if err != nil {
		return err
	}
	return c.InstallChart(ctx, namespace, name, ch, values)
}

// InstallChart installs a chart message as release name in namespace.
func (c *TillerClient) InstallChart(ctx context.Context, namespace, name string, ch *hapichart.Chart, values map[string]any) error {
	vals, err := rawValues(values)
	if err != nil {
		return err
	}
	_, err = c.svc.InstallRelease(c.ctx(ctx), &services.InstallReleaseRequest{Chart: ch, Values: vals, Name: name, Namespace: namespace})
	if err != nil {
		return fmt.Errorf("tiller install %s/%s: %w", namespace, name, err)
	}
	return nil
}

// Upgrade upgrades release name to an embedded chart with values (not
// reusing the previous revision's, as `helm upgrade` without --reuse-values).
func (c *TillerClient) Upgrade(ctx context.Context, name, chart string, values map[string]any) error {
	ch, err := TillerChart(chart)
	if err != nil {
		return err
	}
	vals, err := rawValues(values)
	if err != nil {
		return err
	}
	_, err = c.svc.UpdateRelease(c.ctx(ctx), &services.UpdateReleaseRequest{Name: name, Chart: ch, Values: vals})
	if err != nil {
		return fmt.Errorf("tiller upgrade %s: %w", name, err)
	}
	return nil
}

// Delete deletes release name; without purge Tiller keeps its history with
// status DELETED, as `helm delete` does.
func (c *TillerClient) Delete(ctx context.Context, name string, purge bool) error {
	_, err := c.svc.UninstallRelease(c.ctx(ctx), &services.UninstallReleaseRequest{Name: name, Purge: purge})
	if err != nil {
		return fmt.Errorf("tiller delete %s: %w", name, err)
	}
	return nil
}

// SeedTiller installs the Helm v2 fixture the driver tests and the demo
// share, through the Tiller at addr: shop/frontend (webapp, upgraded:
// revision 2 DEPLOYED, 1 SUPERSEDED), shop/api (webapp, an upgrade the API
// server refuses: revision 2 FAILED), store/cache (cache, DEPLOYED) and
// cron/nightly (jobs, deleted with its history kept: DELETED).
func SeedTiller(ctx context.Context, addr string) error {
	c, err := DialTiller(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Install(ctx, "shop", "frontend", "webapp", map[string]any{"message": "v1"}); err != nil {
		return err
	}
	if err := c.Upgrade(ctx, "frontend", "webapp", map[string]any{"message": "v2", "replicaCount": 2}); err != nil {
		return err
	}
	if err := c.Install(ctx, "shop", "api", "webapp", map[string]any{"message": "api", "service": map[string]any{"port": 8080}}); err != nil {
		return err
	}
	err = c.Upgrade(ctx, "api", "webapp", map[string]any{"breakMe": true})
	if err == nil || !strings.Contains(err.Error(), "Bad_Name") {
		return fmt.Errorf("upgrade of api with breakMe: error = %v, want the API server's refusal of Bad_Name", err)
	}
	if err := c.Install(ctx, "store", "cache", "cache", nil); err != nil {
		return err
	}
	if err := c.Install(ctx, "cron", "nightly", "jobs", map[string]any{"schedule": "0 2 * * *"}); err != nil {
		return err
	}
	return c.Delete(ctx, "nightly", false)
}
