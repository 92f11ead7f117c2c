package helm

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/client-go/rest"
)

func TestDecodeRelease(t *testing.T) {
	deployed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	want := &rspb.Release{
		Name:      "web",
		Namespace: "shop",
		Version:   3,
		Info:      &rspb.Info{Status: common.StatusPendingUpgrade, LastDeployed: deployed, Notes: "hi"},
		Chart:     &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "webapp", Version: "1.0.0"}},
		Config:    map[string]any{"replicaCount": 2.0},
		Manifest:  "---\nkind: ConfigMap\n",
	}
	js, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(js)
	zw.Close()
	b64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }

	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{name: "gzip, as Helm 3 and 4 store it", data: b64(gz.Bytes())},
		{name: "plain JSON, as early Helm 3 stored it", data: b64(js)},
		{name: "not base64", data: []byte("%%%"), wantErr: "base64"},
		{name: "truncated gzip", data: b64(gz.Bytes()[:12]), wantErr: "gzip"},
		{name: "not JSON", data: b64([]byte("hello")), wantErr: "json"},
		{name: "empty", data: nil, wantErr: "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRelease(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decodeRelease() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeRelease() error = %v", err)
			}
			if got.Name != want.Name || got.Version != want.Version || got.Info.Status != want.Info.Status ||
				!got.Info.LastDeployed.Equal(deployed) || got.Chart.Metadata.Name != "webapp" ||
				got.Config["replicaCount"] != 2.0 || got.Manifest != want.Manifest || got.Info.Notes != "hi" {
				t.Errorf("decodeRelease() = %+v (info %+v), want %+v (info %+v)", got, got.Info, want, want.Info)
			}
		})
	}
}

func TestDecodeReleaseRefusesGzipBomb(t *testing.T) {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(bytes.Repeat([]byte(" "), maxPayload+10))
	zw.Close()
	_, err := decodeRelease([]byte(base64.StdEncoding.EncodeToString(gz.Bytes())))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("decodeRelease(%d bytes inflating to %d) error = %v, want a size error", gz.Len(), maxPayload+10, err)
	}
}

// The action configuration cache must hand out one Configuration per
// namespace, built without contacting the cluster.
func TestActionConfigCache(t *testing.T) {
	d, err := New(Config{Cluster: "c", REST: &rest.Config{Host: "https://127.0.0.1:1"}, Storage: "configmap"})
	if err != nil {
		t.Fatal(err)
	}
	a1, err := d.actionConfig("a")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := d.actionConfig("a")
	b, _ := d.actionConfig("b")
	if a1 != a2 {
		t.Errorf("actionConfig(%q) twice gave two configurations, want one", "a")
	}
	if a1 == b {
		t.Errorf("actionConfig(%q) and actionConfig(%q) gave the same configuration", "a", "b")
	}
	if got, want := a1.Releases.Name(), "ConfigMap"; got != want {
		t.Errorf("storage driver = %q, want %q", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	rc := &rest.Config{Host: "https://127.0.0.1:1"}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no cluster name", Config{REST: rc}, "cluster name is empty"},
		{"no rest config", Config{Cluster: "c"}, "no REST config"},
		{"unknown storage", Config{Cluster: "c", REST: rc, Storage: "sql"}, `unknown storage "sql"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
