package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repov1 "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	ggcr "github.com/google/go-containerregistry/pkg/registry"

	"github.com/helmgraph/helmgraph/internal/localcluster"
)

// Chart describes a chart a test packages itself.
type Chart struct {
	Name, Version, AppVersion, Description, Icon string
	// Values are the chart's defaults (values.yaml).
	Values map[string]any
	// Templates by file name under templates/.
	Templates map[string]string
}

// PackageChart packages c with the Helm SDK, as `helm package` does, and
// returns the .tgz archive.
func PackageChart(t testing.TB, c Chart) []byte {
	t.Helper()
	vals, err := yaml.Marshal(c.Values)
	if err != nil {
		t.Fatal(err)
	}
	ch := &chartv2.Chart{
		Metadata: &chartv2.Metadata{APIVersion: chartv2.APIVersionV2, Name: c.Name, Version: c.Version, AppVersion: c.AppVersion,
			Description: c.Description, Icon: c.Icon, Type: "application"},
		Values: c.Values,
		Raw:    []*common.File{{Name: chartutil.ValuesfileName, Data: vals}},
	}
	for name, body := range c.Templates {
		ch.Templates = append(ch.Templates, &common.File{Name: "templates/" + name, Data: []byte(body)})
	}
	dir := t.TempDir()
	p, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatalf("package chart %s %s: %v", c.Name, c.Version, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// LocalChartArchive packages one of internal/localcluster's embedded charts
// as `helm package` lays it out (a .tgz with the chart's directory at the
// top), with extra files added or replaced as they are given: not checked,
// so that tests can add broken ones.
func LocalChartArchive(t testing.TB, name string, extra map[string]string) []byte {
	t.Helper()
	files, err := localcluster.ChartFiles(name)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	for n, s := range extra {
		byName[n] = []byte(s)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		b := byName[n]
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ChartRepo is a real HTTP chart repository: it serves an index.yaml built
// with the Helm SDK and the archives it lists, and accepts ChartMuseum-style
// uploads (POST /api/charts). Basic auth or a bearer token is required when set.
type ChartRepo struct {
	*httptest.Server
	Username, Password, Token string

	mu       sync.Mutex
	archives map[string][]byte // by file name
	// Requests counts requests by path, for tests that check caching.
	requests map[string]int
}

// ChartRepoOptions configure NewChartRepo.
type ChartRepoOptions struct {
	Username, Password, Token string
	TLS                       bool
}

// NewChartRepo starts a chart repository on loopback; it stops at test cleanup.
func NewChartRepo(t testing.TB, o ChartRepoOptions) *ChartRepo {
	r := &ChartRepo{Username: o.Username, Password: o.Password, Token: o.Token, archives: map[string][]byte{}, requests: map[string]int{}}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	// Tests refuse the server's certificate on purpose; that is no news.
	r.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if o.TLS {
		r.Server.StartTLS()
	} else {
		r.Server.Start()
	}
	t.Cleanup(r.Close)
	return r
}

// Add puts an archive into the repository under its conventional file name.
func (r *ChartRepo) Add(t testing.TB, archive []byte) {
	t.Helper()
	ch, err := loader.LoadArchive(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatalf("chart repo: add: %v", err)
	}
	r.AddFile(fmt.Sprintf("%s-%s.tgz", ch.Metadata.Name, ch.Metadata.Version), archive)
}

// AddFile stores data under name, whatever it holds (tests put broken archives in too).
func (r *ChartRepo) AddFile(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.archives[name] = data
}

// indexFile builds the index from the stored archives with the Helm SDK.
func (r *ChartRepo) indexFile() (*repov1.IndexFile, error) {
	idx := repov1.NewIndexFile()
	for name, data := range r.archives {
		ch, err := loader.LoadArchive(strings.NewReader(string(data)))
		if err != nil {
			// A broken archive is listed under the name and version its file name claims.
			base := strings.TrimSuffix(name, ".tgz")
			i := strings.LastIndex(base, "-")
			md := &chartv2.Metadata{APIVersion: chartv2.APIVersionV2, Name: base[:i], Version: base[i+1:]}
			if err := idx.MustAdd(md, name, "", ""); err != nil {
				return nil, err
			}
			continue
		}
		sum := sha256.Sum256(data)
		if err := idx.MustAdd(ch.Metadata, name, "", "sha256:"+hex.EncodeToString(sum[:])); err != nil {
			return nil, err
		}
	}
	idx.SortEntries()
	return idx, nil
}

// Requests reports how many requests reached path.
func (r *ChartRepo) Requests(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[p]
}

func (r *ChartRepo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests[req.URL.Path]++
	r.mu.Unlock()
	if !r.authorized(req) {
		w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/index.yaml"):
		r.mu.Lock()
		idx, err := r.indexFile()
		r.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		dir, err := os.MkdirTemp("", "chartrepo-")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer os.RemoveAll(dir)
		if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.ServeFile(w, req, filepath.Join(dir, "index.yaml"))
	case req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, ".tgz"):
		r.mu.Lock()
		data, ok := r.archives[path.Base(req.URL.Path)]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(data)
	case req.Method == http.MethodPost && (req.URL.Path == "/api/charts" || harborUpload(req.URL.Path)):
		// ChartMuseum: the archive is the body. Harbor
		// (/api/chartrepo/{project}/charts): a multipart form with the
		// archive in field "chart". 409 if the version exists.
		var data []byte
		var err error
		if req.URL.Path == "/api/charts" {
			data, err = io.ReadAll(io.LimitReader(req.Body, 16<<20))
		} else {
			var f io.ReadCloser
			if f, _, err = req.FormFile("chart"); err == nil {
				data, err = io.ReadAll(io.LimitReader(f, 16<<20))
				f.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ch, err := loader.LoadArchive(strings.NewReader(string(data)))
		if err != nil {
			http.Error(w, `{"error":"invalid chart"}`, http.StatusBadRequest)
			return
		}
		name := fmt.Sprintf("%s-%s.tgz", ch.Metadata.Name, ch.Metadata.Version)
		r.mu.Lock()
		_, exists := r.archives[name]
		if !exists {
			r.archives[name] = data
		}
		r.mu.Unlock()
		if exists {
			http.Error(w, `{"error":"file already exists"}`, http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"saved":true}`)
	default:
		http.NotFound(w, req)
	}
}

func harborUpload(p string) bool {
	project, ok := strings.CutPrefix(p, "/api/chartrepo/")
	project, ok2 := strings.CutSuffix(project, "/charts")
	return ok && ok2 && project != "" && !strings.Contains(project, "/")
}

func (r *ChartRepo) authorized(req *http.Request) bool {
	switch {
	case r.Username != "":
		u, p, ok := req.BasicAuth()
		return ok && u == r.Username && p == r.Password
	case r.Token != "":
		return req.Header.Get("Authorization") == "Bearer "+r.Token
	}
	return true
}

// OCIRegistry is a real OCI distribution registry (go-containerregistry's)
// on loopback, over plain HTTP; Host is what goes after oci://.
type OCIRegistry struct {
	*httptest.Server
	Host string
}

// NewOCIRegistry starts a registry; it stops at test cleanup.
func NewOCIRegistry(t testing.TB) *OCIRegistry { return NewOCIRegistryWithAuth(t, "", "") }

// NewOCIRegistryWithAuth starts a registry that demands HTTP basic
// authentication (a Basic challenge, as registries without a token service
// send) when username is set.
func NewOCIRegistryWithAuth(t testing.TB, username, password string) *OCIRegistry {
	var h http.Handler = ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	if username != "" {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if u, p, ok := req.BasicAuth(); !ok || u != username || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, req)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &OCIRegistry{Server: srv, Host: u.Host}
}
