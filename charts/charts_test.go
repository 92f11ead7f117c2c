package charts_test

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/registry"

	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/release"
)

func chart(name, version string) testenv.Chart {
	return testenv.Chart{
		Name: name, Version: version, AppVersion: "app-" + version,
		Description: name + " does things", Icon: "https://icons.example/" + name + ".png",
		Values:    map[string]any{"message": "hello"},
		Templates: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n"},
	}
}

func newRegistry(t *testing.T, o charts.Options) *charts.Registry {
	t.Helper()
	o.Log = slog.New(slog.DiscardHandler)
	r := charts.NewRegistry(o)
	t.Cleanup(r.Close)
	return r
}

func wantErr(t *testing.T, err error, sentinel error, contains ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("error = %v, want %v", err, sentinel)
		return
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}

func TestHTTPRepository(t *testing.T) {
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "alice", Password: "s3cret-pw"})
	repo.Add(t, testenv.PackageChart(t, chart("hello", "1.0.0")))
	repo.Add(t, testenv.PackageChart(t, chart("hello", "1.2.0")))
	repo.Add(t, testenv.PackageChart(t, chart("world", "0.1.0")))
	reg := newRegistry(t, charts.Options{})
	ctx := t.Context()

	t.Run("wrong credentials", func(t *testing.T) {
		_, err := reg.Add(ctx, charts.Config{Name: "bad", URL: repo.URL, Username: "alice", Password: "wrong-pw"})
		wantErr(t, err, release.ErrInvalidArgument, `repository "bad"`, "credentials refused", "401")
		if err != nil && strings.Contains(err.Error(), "wrong-pw") {
			t.Errorf("error %q contains the password", err)
		}
		if _, err := reg.Repository("bad"); !errors.Is(err, release.ErrNotFound) {
			t.Errorf("a repository that failed its check was added anyway")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		_, err := reg.Add(ctx, charts.Config{Name: "gone", URL: "http://127.0.0.1:1"})
		wantErr(t, err, release.ErrClusterUnavailable, `repository "gone"`)
	})
	t.Run("invalid config", func(t *testing.T) {
		for _, c := range []charts.Config{
			{Name: "Bad_Name", URL: repo.URL},
			{Name: "x", URL: "ftp://example.com"},
			{Name: "x", URL: "https://user:pw@example.com"},
			{Name: "x", URL: repo.URL, Password: "p"},
			{Name: "x", URL: repo.URL, Flavor: "nexus"},
			{Name: "x", URL: repo.URL, CA: "not pem"},
		} {
			if _, err := reg.Add(ctx, c); !errors.Is(err, release.ErrInvalidArgument) {
				t.Errorf("Add(%+v) error = %v, want ErrInvalidArgument", c, err)
			}
		}
	})

	info, err := reg.Add(ctx, charts.Config{Name: "main", URL: repo.URL, Username: "alice", Password: "s3cret-pw", Flavor: charts.FlavorChartMuseum})
	if err != nil {
		t.Fatalf("Add() error = %v", err)
	}
	if info.ChartCount == nil || *info.ChartCount != 2 || !info.HasCredentials || info.LastRefresh == nil || info.LastError != nil || !info.UploadSupported {
		t.Errorf("Add() = %+v, want 2 charts, credentials, refreshed, no error, uploads", info)
	}
	if _, err := reg.Add(ctx, charts.Config{Name: "main", URL: repo.URL}); !errors.Is(err, release.ErrConflict) {
		t.Errorf("Add(duplicate) error = %v, want ErrConflict", err)
	}

	t.Run("charts from the cached index", func(t *testing.T) {
		before := repo.Requests("/index.yaml")
		p, err := reg.Charts(ctx, "main", "", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := repo.Requests("/index.yaml"); got != before {
			t.Errorf("Charts() fetched index.yaml (%d → %d requests), want it served from memory", before, got)
		}
		if p.TotalCount != 2 || len(p.Items) != 2 || p.Items[0].Name != "hello" || p.Items[1].Name != "world" {
			t.Fatalf("Charts() = %+v, want hello and world", p.Items)
		}
		h := p.Items[0]
		if h.Version != "1.2.0" || h.AppVersion != "app-1.2.0" || h.Description != "hello does things" || h.Icon != "https://icons.example/hello.png" {
			t.Errorf("hello = %+v, want latest 1.2.0 with appVersion, description and icon", h)
		}
		if len(h.Versions) != 2 || h.Versions[0].Version != "1.2.0" || h.Versions[1].Version != "1.0.0" || h.Versions[0].Digest == "" || h.Versions[0].Created == nil {
			t.Errorf("hello versions = %+v, want 1.2.0 then 1.0.0 with digests and creation times", h.Versions)
		}
		one := 1
		p1, _ := reg.Charts(ctx, "main", "", &one, "")
		p2, _ := reg.Charts(ctx, "main", "", &one, p1.Cursors[0])
		if len(p1.Items) != 1 || !p1.HasNextPage || len(p2.Items) != 1 || p2.Items[0].Name != "world" || p2.HasNextPage {
			t.Errorf("pages of one: %+v then %+v, want hello then world", p1.Items, p2.Items)
		}
		q, _ := reg.Charts(ctx, "main", "WORL", nil, "")
		if len(q.Items) != 1 || q.Items[0].Name != "world" {
			t.Errorf("Charts(query WORL) = %+v, want world", q.Items)
		}
		if _, err := reg.Charts(ctx, "nope", "", nil, ""); !errors.Is(err, release.ErrInvalidArgument) {
			t.Errorf("Charts(unknown repository) error = %v, want ErrInvalidArgument", err)
		}
	})

	t.Run("resolve", func(t *testing.T) {
		tests := []struct{ version, want string }{{"", "1.2.0"}, {"1.0.0", "1.0.0"}, {"~1.0", "1.0.0"}, {">=1.1", "1.2.0"}}
		for _, tt := range tests {
			ch, err := reg.Resolve(ctx, charts.Ref{Repository: "main", Name: "hello", Version: tt.version})
			if err != nil {
				t.Errorf("Resolve(hello %q) error = %v", tt.version, err)
				continue
			}
			if ch.Name != "hello" || ch.Version != tt.want || ch.AppVersion != "app-"+tt.want || len(ch.Archive) == 0 || strings.Contains(ch.Source, "s3cret") {
				t.Errorf("Resolve(hello %q) = %s %s from %s, want hello %s without credentials in the source", tt.version, ch.Name, ch.Version, ch.Source, tt.want)
			}
		}
		_, err := reg.Resolve(ctx, charts.Ref{Repository: "main", Name: "hello", Version: "9.9.9"})
		wantErr(t, err, release.ErrInvalidArgument, "chart.version", `"9.9.9"`, "available: 1.2.0, 1.0.0")
		_, err = reg.Resolve(ctx, charts.Ref{Repository: "main", Name: "nothere"})
		wantErr(t, err, release.ErrInvalidArgument, "chart.name", `no chart "nothere"`)
		_, err = reg.Resolve(ctx, charts.Ref{Repository: "nope", Name: "hello"})
		wantErr(t, err, release.ErrInvalidArgument, "chart.repository")
		_, err = reg.Resolve(ctx, charts.Ref{Repository: "main", Name: "hello", OCI: "oci://x/y"})
		wantErr(t, err, release.ErrInvalidArgument, "exactly one")
	})

	t.Run("broken archive", func(t *testing.T) {
		repo.AddFile("broken-1.0.0.tgz", []byte("this is not a gzip archive"))
		_, err := reg.Resolve(ctx, charts.Ref{Repository: "main", Name: "broken"})
		wantErr(t, err, release.ErrInvalidArgument, "archive of chart broken 1.0.0", "not a valid chart archive")
		_, err = reg.Resolve(ctx, charts.Ref{Archive: []byte{0x1f, 0x8b, 0, 0}, ArchiveName: "mine.tgz"})
		wantErr(t, err, release.ErrInvalidArgument, "chart.archive", "mine.tgz", "not a valid chart archive")
	})

	t.Run("upload", func(t *testing.T) {
		up, err := reg.Upload(ctx, "main", "fresh.tgz", testenv.PackageChart(t, chart("fresh", "3.0.0")))
		if err != nil || up.Name != "fresh" || up.Version != "3.0.0" {
			t.Fatalf("Upload() = %+v, %v; want fresh 3.0.0", up, err)
		}
		p, _ := reg.Charts(ctx, "main", "fresh", nil, "")
		if len(p.Items) != 1 || p.Items[0].Version != "3.0.0" {
			t.Errorf("after upload Charts(fresh) = %+v, want fresh 3.0.0", p.Items)
		}
		_, err = reg.Upload(ctx, "main", "fresh.tgz", testenv.PackageChart(t, chart("fresh", "3.0.0")))
		wantErr(t, err, release.ErrConflict, "fresh 3.0.0")
		_, err = reg.Upload(ctx, "main", "junk.tgz", []byte("junk"))
		wantErr(t, err, release.ErrInvalidArgument, "junk.tgz")
	})
}

// The index is refreshed in the background: a chart added to the repository
// shows up without anyone asking for a refresh.
func TestBackgroundRefresh(t *testing.T) {
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Token: "tok-123"})
	repo.Add(t, testenv.PackageChart(t, chart("hello", "1.0.0")))
	reg := newRegistry(t, charts.Options{})
	if _, err := reg.Add(t.Context(), charts.Config{Name: "tok", URL: repo.URL, Token: "tok-123", RefreshInterval: charts.Duration(50 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	repo.Add(t, testenv.PackageChart(t, chart("later", "1.0.0")))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p, err := reg.Charts(t.Context(), "tok", "later", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) == 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("chart added to the repository did not show up within 5s")
}

func TestTLSRepository(t *testing.T) {
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{TLS: true})
	repo.Add(t, testenv.PackageChart(t, chart("hello", "1.0.0")))
	reg := newRegistry(t, charts.Options{})
	ctx := t.Context()
	_, err := reg.Add(ctx, charts.Config{Name: "untrusted", URL: repo.URL})
	wantErr(t, err, release.ErrInvalidArgument, "TLS certificate not trusted")

	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: repo.Certificate().Raw}))
	if _, err := reg.Add(ctx, charts.Config{Name: "with-ca", URL: repo.URL, CA: ca}); err != nil {
		t.Errorf("Add(with the server's CA) error = %v", err)
	}
	if _, err := reg.Add(ctx, charts.Config{Name: "insecure", URL: repo.URL, InsecureSkipVerify: true}); err != nil {
		t.Errorf("Add(insecureSkipVerify) error = %v", err)
	}
	if ch, err := reg.Resolve(ctx, charts.Ref{Repository: "with-ca", Name: "hello"}); err != nil || ch.Version != "1.0.0" {
		t.Errorf("Resolve over TLS = %+v, %v", ch.Version, err)
	}
}

func TestArchiveSizeCap(t *testing.T) {
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{})
	big := chart("big", "1.0.0")
	// Random-looking data does not compress: the archive stays big.
	var sb strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&sb, "# %x\n", uint64(i)*0x9E3779B97F4A7C15)
	}
	big.Templates["padding.yaml"] = sb.String()
	archive := testenv.PackageChart(t, big)
	repo.Add(t, archive)
	reg := newRegistry(t, charts.Options{MaxArchiveBytes: 8 << 10})
	if _, err := reg.Add(t.Context(), charts.Config{Name: "main", URL: repo.URL}); err != nil {
		t.Fatal(err)
	}
	if len(archive) <= 8<<10 {
		t.Fatalf("test archive is only %d bytes; want it over the 8 KiB cap", len(archive))
	}
	_, err := reg.Resolve(t.Context(), charts.Ref{Repository: "main", Name: "big"})
	wantErr(t, err, release.ErrInvalidArgument, "archive of chart big 1.0.0", "larger than the limit of 8192 bytes")
	_, err = reg.Resolve(t.Context(), charts.Ref{Archive: archive, ArchiveName: "big.tgz"})
	wantErr(t, err, release.ErrInvalidArgument, "big.tgz", "larger than the limit")
}

func TestOCIRegistry(t *testing.T) {
	oci := testenv.NewOCIRegistry(t)
	ctx := t.Context()
	// Push with the Helm SDK's registry client, as `helm push` does.
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var digest120 string
	for _, v := range []string{"1.0.0", "1.2.0"} {
		res, err := client.Push(testenv.PackageChart(t, chart("hello", v)), fmt.Sprintf("%s/charts/hello:%s", oci.Host, v))
		if err != nil {
			t.Fatalf("push hello %s: %v", v, err)
		}
		if v == "1.2.0" {
			digest120 = res.Manifest.Digest
		}
	}
	reg := newRegistry(t, charts.Options{})
	info, err := reg.Add(ctx, charts.Config{Name: "oci", URL: "oci://" + oci.Host + "/charts", PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if !info.OCI || !info.UploadSupported {
		t.Errorf("Add(oci) = %+v, want an OCI repository that accepts uploads", info)
	}
	tests := []struct {
		name string
		ref  charts.Ref
		want string
	}{
		{"repository, latest", charts.Ref{Repository: "oci", Name: "hello"}, "1.2.0"},
		{"repository, exact", charts.Ref{Repository: "oci", Name: "hello", Version: "1.0.0"}, "1.0.0"},
		{"repository, constraint", charts.Ref{Repository: "oci", Name: "hello", Version: "<1.1"}, "1.0.0"},
		{"oci ref with tag", charts.Ref{OCI: "oci://" + oci.Host + "/charts/hello:1.0.0"}, "1.0.0"},
		{"oci ref with digest", charts.Ref{OCI: "oci://" + oci.Host + "/charts/hello@" + digest120}, "1.2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := reg.Resolve(ctx, tt.ref)
			if err != nil || ch.Name != "hello" || ch.Version != tt.want {
				t.Errorf("Resolve(%+v) = %s %s, %v; want hello %s", tt.ref, ch.Name, ch.Version, err, tt.want)
			}
		})
	}
	_, err = reg.Resolve(ctx, charts.Ref{Repository: "oci", Name: "hello", Version: "7.0.0"})
	wantErr(t, err, release.ErrInvalidArgument)
	_, err = reg.Resolve(ctx, charts.Ref{OCI: "oci://elsewhere.example/charts/hello:1.0.0"})
	wantErr(t, err, release.ErrInvalidArgument, "no configured OCI repository")

	p, err := reg.Charts(ctx, "oci", "hello", nil, "")
	if err != nil || len(p.Items) != 1 || p.Items[0].Version != "1.2.0" || len(p.Items[0].Versions) != 2 {
		t.Errorf("Charts(oci, hello) = %+v, %v; want hello with versions 1.2.0 and 1.0.0", p.Items, err)
	}

	// Uploading to an OCI repository pushes the archive.
	if _, err := reg.Upload(ctx, "oci", "pushed.tgz", testenv.PackageChart(t, chart("pushed", "0.3.0"))); err != nil {
		t.Fatalf("Upload(oci) error = %v", err)
	}
	if ch, err := reg.Resolve(ctx, charts.Ref{Repository: "oci", Name: "pushed"}); err != nil || ch.Version != "0.3.0" {
		t.Errorf("Resolve(pushed) = %s, %v; want 0.3.0", ch.Version, err)
	}
}

// A Harbor repository's index lives under /chartrepo/{project}; uploads go
// to /api/chartrepo/{project}/charts as a multipart form.
func TestHarborUpload(t *testing.T) {
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "admin", Password: "harbor-pw"})
	reg := newRegistry(t, charts.Options{})
	ctx := t.Context()
	if _, err := reg.Add(ctx, charts.Config{Name: "harbor", URL: repo.URL + "/chartrepo/library", Flavor: charts.FlavorHarbor, Username: "admin", Password: "harbor-pw"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Upload(ctx, "harbor", "hello.tgz", testenv.PackageChart(t, chart("hello", "0.5.0"))); err != nil {
		t.Fatalf("Upload(harbor) error = %v", err)
	}
	if n := repo.Requests("/api/chartrepo/library/charts"); n != 1 {
		t.Errorf("harbor upload API saw %d requests, want 1", n)
	}
	if ch, err := reg.Resolve(ctx, charts.Ref{Repository: "harbor", Name: "hello"}); err != nil || ch.Version != "0.5.0" {
		t.Errorf("Resolve(harbor hello) = %s, %v; want 0.5.0", ch.Version, err)
	}
	if _, err := reg.Add(ctx, charts.Config{Name: "plain", URL: repo.URL, Username: "admin", Password: "harbor-pw"}); err != nil {
		t.Fatal(err)
	}
	_, err := reg.Upload(ctx, "plain", "hello.tgz", testenv.PackageChart(t, chart("hello", "0.6.0")))
	wantErr(t, err, release.ErrInvalidArgument, "does not accept uploads")
}

// Credentials of an OCI repository are sent to its registry, and only the
// repository's: wrong ones are refused with INVALID_ARGUMENT.
func TestOCIRegistryAuth(t *testing.T) {
	oci := testenv.NewOCIRegistryWithAuth(t, "robot", "oci-pw")
	reg := newRegistry(t, charts.Options{})
	ctx := t.Context()
	for _, c := range []charts.Config{
		{Name: "good", URL: "oci://" + oci.Host + "/charts", PlainHTTP: true, Username: "robot", Password: "oci-pw"},
		{Name: "bad", URL: "oci://" + oci.Host + "/charts", PlainHTTP: true, Username: "robot", Password: "wrong-pw"},
		{Name: "anon", URL: "oci://" + oci.Host + "/other", PlainHTTP: true},
	} {
		if _, err := reg.Add(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Upload(ctx, "good", "hello.tgz", testenv.PackageChart(t, chart("hello", "1.0.0"))); err != nil {
		t.Fatalf("Upload(oci with credentials) error = %v", err)
	}
	if ch, err := reg.Resolve(ctx, charts.Ref{Repository: "good", Name: "hello", Version: "1.0.0"}); err != nil || ch.Version != "1.0.0" {
		t.Errorf("Resolve(good) = %s, %v", ch.Version, err)
	}
	_, err := reg.Resolve(ctx, charts.Ref{Repository: "bad", Name: "hello", Version: "1.0.0"})
	wantErr(t, err, release.ErrInvalidArgument, `repository "bad"`, "credentials refused")
	if err != nil && strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("error %q contains the password", err)
	}
	_, err = reg.Resolve(ctx, charts.Ref{Repository: "anon", Name: "hello", Version: "1.0.0"})
	wantErr(t, err, release.ErrInvalidArgument, `repository "anon"`, "requires credentials")
}

// Repositories from the config file: secrets from files, errors naming the
// field, and the index fetched in the background.
func TestOpenFromConfig(t *testing.T) {
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "ci", Password: "file-pw"})
	repo.Add(t, testenv.PackageChart(t, chart("hello", "1.0.0")))
	pwFile := t.TempDir() + "/pw"
	if err := os.WriteFile(pwFile, []byte("file-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgs, err := charts.ParseConfigs([]byte(fmt.Sprintf("- name: main\n  url: %s\n  username: ci\n  passwordFile: %s\n  refreshInterval: 1m\n", repo.URL, pwFile)))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := charts.Open(cfgs, charts.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := reg.Repository("main")
		if info.ChartCount != nil && *info.ChartCount == 1 && info.LastError == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("repository from the config = %+v; want its index fetched in the background", info)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if _, err := charts.ParseConfigs([]byte("- name: x\n  url: https://x\n  pasword: typo\n")); err == nil || !strings.Contains(err.Error(), "pasword") {
		t.Errorf("ParseConfigs(unknown field) error = %v, want it named", err)
	}
	_, err = charts.Open([]charts.Config{
		{Name: "ok", URL: "https://charts.example"},
		{Name: "ok", URL: "https://charts.example"},
		{Name: "bad", URL: "https://charts.example", Flavor: "nexus"},
		{Name: "nofile", URL: "https://charts.example", Username: "u", PasswordFile: "/does/not/exist"},
	}, charts.Options{Log: slog.New(slog.DiscardHandler)})
	for _, want := range []string{"repositories[1].name: duplicate", `repositories[2].flavor: unknown flavor "nexus"`, "repositories[3].passwordFile"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(bad configs) error = %v, want it to contain %q", err, want)
		}
	}
}
