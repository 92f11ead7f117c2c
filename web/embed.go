// Package web holds the GraphiQL page helmgraph serves at /, built from the
// npm packages pinned in package-lock.json by `npm run build` into dist/ and
// embedded into the binary. Without a build, dist/ holds only a placeholder
// and the server falls back to its small built-in page.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Assets returns the built page (index.html and assets/), or false when
// the page was not built before `go build`.
func Assets() (fs.FS, bool) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil, false
	}
	return sub, true
}
