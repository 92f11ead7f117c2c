package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestPageFallbackWithoutBuild(t *testing.T) {
	mux := http.NewServeMux()
	pageHandlersFor(mux, nil)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "npm run build") {
		t.Errorf("GET / without a built page = %d, want the fallback page saying how to build GraphiQL", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "http") || !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("fallback CSP = %q", csp)
	}
	if resp, _ := http.Get(ts.URL + "/assets/main.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /assets/ without a build = %d, want 404", resp.StatusCode)
	}
}

func TestPageServesBuiltAssets(t *testing.T) {
	mux := http.NewServeMux()
	pageHandlersFor(mux, fstest.MapFS{
		"index.html":         {Data: []byte(`<div id="graphiql"></div><script type="module" src="/assets/main-ABC.js"></script>`)},
		"assets/main-ABC.js": {Data: []byte(`console.log(1)`)},
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/assets/main-ABC.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Errorf("asset = %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = http.Get(ts.URL + "/")
	if resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("index Cache-Control = %q, want no-cache (it names the hashed assets)", resp.Header.Get("Cache-Control"))
	}
}
