package server

import (
	_ "embed"
	"io/fs"
	"net/http"

	"github.com/helmgraph/helmgraph/web"
)

// fallbackPage is a small, self-contained query page served when the
// GraphiQL bundle (web/) was not built before `go build`; it says how to
// build it. Like GraphiQL, it loads nothing from anywhere but this server.
//
//go:embed page.html
var fallbackPage []byte

// pageCSP allows nothing but this origin: the page works air-gapped, and
// a script injected from elsewhere cannot run.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// fallbackCSP additionally allows the fallback page's inline script.
const fallbackCSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// pageHandlers registers / and, when GraphiQL is built, its hashed /assets/.
func pageHandlers(mux *http.ServeMux) {
	assets, ok := web.Assets()
	if !ok {
		assets = nil
	}
	pageHandlersFor(mux, assets)
}

// pageHandlersFor serves the built page in assets, or the fallback page when
// assets is nil.
func pageHandlersFor(mux *http.ServeMux, assets fs.FS) {
	if assets == nil {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			pageHeaders(w, fallbackCSP, "no-cache")
			w.Write(fallbackPage)
		})
		return
	}
	index, _ := fs.ReadFile(assets, "index.html")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		pageHeaders(w, pageCSP, "no-cache")
		w.Write(index)
	})
	files := http.FileServerFS(assets)
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		// Asset names carry a content hash: they never change.
		pageHeaders(w, pageCSP, "public, max-age=31536000, immutable")
		w.Header().Del("Content-Type") // let the file server set it from the name
		files.ServeHTTP(w, r)
	})
}

func pageHeaders(w http.ResponseWriter, csp, cache string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", cache)
}
