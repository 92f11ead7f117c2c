package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	anypb "github.com/golang/protobuf/ptypes/any"
	"github.com/golang/protobuf/ptypes/timestamp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"
	"k8s.io/helm/pkg/proto/hapi/services"

	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/internal/localcluster"
)

// The Tiller benchmark's data: 2,000 releases whose payloads (each chart
// carries 16 KiB of incompressible data, as charts with bundled files do)
// total more than 30 MB, so that Tiller's ListReleases answer needs several
// messages of up to 20 MiB each.
const (
	tillerReleases = 2000
	tillerBlob     = 16 << 10
)

// BenchmarkTillerList2000 lists every release of a Tiller holding 2,000
// releases (> 30 MB): helmgraph's tiller driver, a plain Tiller client with
// the Helm v2 CLI's 20 MiB receive limit, and a plain client with gRPC's
// default limits, which fails with ResourceExhausted.
func BenchmarkTillerList2000(b *testing.B) {
	ctx := context.Background()
	addr, total := startBenchTiller(b)
	b.Logf("tiller at %s holds %d releases, %.1f MB of release payloads", addr, tillerReleases, float64(total)/1e6)
	if total <= 30e6 {
		b.Fatalf("payloads total %d bytes, want more than 30 MB", total)
	}

	b.Run("helmgraph", func(b *testing.B) {
		d, err := tiller.New(tiller.Config{Cluster: "bench", Transport: tiller.Direct{Addr: addr}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		measure(b, func() error {
			rels, err := d.List(ctx, nil)
			if err == nil && len(rels) != tillerReleases {
				err = fmt.Errorf("listed %d releases, want %d", len(rels), tillerReleases)
			}
			return err
		})
	})
	plain := func(limit int) func() error {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if limit > 0 {
			opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit)))
		}
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		svc := services.NewReleaseServiceClient(conn)
		return func() error {
			// What `helm list --all --max 0` asks (every status, all namespaces).
			stream, err := svc.ListReleases(metadata.AppendToOutgoingContext(ctx, "x-helm-api-client", tiller.ClientVersion),
				&services.ListReleasesRequest{Limit: tillerReleases * 2, StatusCodes: []hapirelease.Status_Code{
					hapirelease.Status_UNKNOWN, hapirelease.Status_DEPLOYED, hapirelease.Status_DELETED, hapirelease.Status_SUPERSEDED,
					hapirelease.Status_FAILED, hapirelease.Status_DELETING, hapirelease.Status_PENDING_INSTALL,
					hapirelease.Status_PENDING_UPGRADE, hapirelease.Status_PENDING_ROLLBACK}})
			if err != nil {
				return err
			}
			n := 0
			for {
				resp, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				n += len(resp.GetReleases())
			}
			if n != tillerReleases {
				return fmt.Errorf("listed %d releases, want %d", n, tillerReleases)
			}
			return nil
		}
	}
	b.Run("plain-20MiB", func(b *testing.B) { measure(b, plain(20<<20)) })
	b.Run("plain-default-limits", func(b *testing.B) {
		list := plain(0)
		var err error
		for range b.N {
			if err = list(); status.Code(err) != codes.ResourceExhausted {
				b.Fatalf("plain client with default limits: error = %v, want ResourceExhausted", err)
			}
		}
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/1e6, "ms-to-fail")
		b.Logf("plain client with default limits fails as expected: %v", err)
	})
}

// measure runs list b.N times and reports wall time per list and the peak
// heap in use while listing (sampled every millisecond).
func measure(b *testing.B, list func() error) {
	b.ReportAllocs()
	runtime.GC()
	peak := samplePeakHeap()
	b.ResetTimer()
	for range b.N {
		if err := list(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/1e6, "ms/list")
	b.ReportMetric(float64(peak())/1e6, "peak-heap-MB")
}

// startBenchTiller starts an API server and a Tiller on it, and writes the
// releases straight into Tiller's storage (ConfigMaps in kube-system, in
// Tiller's own format: gzipped, base64 release protos, labelled NAME, OWNER,
// STATUS, VERSION), as installing 2,000 releases through Tiller would, in a
// fraction of the time. It returns Tiller's address and the payloads' size.
func startBenchTiller(b *testing.B) (string, int) {
	ctx := context.Background()
	apiBin, err := localcluster.BuildAPIServer(ctx, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	tillerBin, err := localcluster.BuildTiller(ctx, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	api, err := localcluster.StartAPIServer(ctx, localcluster.APIServerOptions{Name: "bench-tiller", Dir: filepath.Join(dir, "apiserver"), Binary: apiBin})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { api.Stop() })
	cs, err := kubernetes.NewForConfig(api.RESTConfig())
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var total atomic.Int64
	work := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				cm, n, err := tillerConfigMap(i)
				if err == nil {
					_, err = cs.CoreV1().ConfigMaps(localcluster.TillerNamespace).Create(ctx, cm, metav1.CreateOptions{})
				}
				if err != nil {
					errs <- err
					return
				}
				total.Add(int64(n))
			}
		}()
	}
	for i := range tillerReleases {
		select {
		case work <- i:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.Logf("wrote %d release ConfigMaps in %s", tillerReleases, time.Since(start).Round(time.Millisecond))
	t, err := localcluster.StartTiller(ctx, localcluster.TillerOptions{Binary: tillerBin, Dir: filepath.Join(dir, "tiller"), Kubeconfig: api.KubeconfigPath})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(t.Stop)
	return t.Addr, int(total.Load())
}

// tillerConfigMap is release i (revision 1, DEPLOYED) as Tiller stores it,
// and the size of its payload.
func tillerConfigMap(i int) (*corev1.ConfigMap, int, error) {
	name := fmt.Sprintf("app-%04d", i)
	blob := make([]byte, tillerBlob)
	rand.Read(blob)
	now := &timestamp.Timestamp{Seconds: time.Now().Unix() - int64(i)}
	rls := &hapirelease.Release{
		Name: name, Version: 1, Namespace: fmt.Sprintf("team-%d", i%8),
		Info: &hapirelease.Info{Status: &hapirelease.Status{Code: hapirelease.Status_DEPLOYED, Notes: name + " is running."},
			FirstDeployed: now, LastDeployed: now, Description: "Install complete"},
		Chart: &hapichart.Chart{
			Metadata: &hapichart.Metadata{Name: "blob", Version: "1.0.0", AppVersion: "1.0", ApiVersion: "v1"},
			Templates: []*hapichart.Template{{Name: "templates/cm.yaml",
				Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  n: {{ .Values.n | quote }}\n")}},
			Values: &hapichart.Config{Raw: "n: 0\n"},
			Files:  []*anypb.Any{{TypeUrl: "files/data.bin", Value: blob}},
		},
		Config:   &hapichart.Config{Raw: "n: " + strconv.Itoa(i) + "\n"},
		Manifest: fmt.Sprintf("---\n# Source: blob/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  n: \"%d\"\n", name, i),
	}
	raw, err := proto.Marshal(rls)
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(raw)
	w.Close()
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name + ".v1", Namespace: localcluster.TillerNamespace,
			Labels: map[string]string{"NAME": name, "OWNER": "TILLER", "STATUS": "DEPLOYED", "VERSION": "1"}},
		Data: map[string]string{"release": base64.StdEncoding.EncodeToString(buf.Bytes())},
	}, len(raw), nil
}
