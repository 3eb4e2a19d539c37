// Package console is Meridian's web console: a single-page application in
// TypeScript (src/), bundled by esbuild into dist/ (go generate) and
// embedded here, so the binary serves it with no network and no npm.
//
// The files are public; they hold no tenant's data. Everything the console
// shows it fetches from the API with the user's bearer token, sent in the
// Authorization header (never a cookie, so other sites cannot make the
// browser act for the user), and the API applies each route's tenancy.
package console

//go:generate go run ./build

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed dist
var dist embed.FS

// Prefix is where the server mounts the console.
const Prefix = "/console/"

// Policy is the Content-Security-Policy of every console answer: scripts,
// styles and data from this origin only, no inline script, no frames, no
// forms posting elsewhere; and Trusted Types with no policy, so the
// browser refuses every string-to-markup sink (innerHTML and its kin):
// the console builds its elements from text, and a later change that
// handed an API answer to such a sink throws instead of parsing it.
const Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Files are the built console (index.html, main.js, style.css and the
// bundled packages' LICENSES.txt).
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err)
	}
	return sub
}

// Handler serves the console under Prefix: the page for Prefix itself, the
// bundle's files by name, 404 for anything else.
//
// Each file carries an ETag, its content's SHA-256, and a request naming
// it (If-None-Match) is answered 304 with no body: the route is public,
// and each load of the page sent the 212 KB script whole, with nothing
// for the browser to check its copy against (Cache-Control: no-cache asks
// it to check).
func Handler() http.Handler {
	files := Files()
	tags := map[string]string{}
	if ents, err := fs.ReadDir(files, "."); err == nil {
		for _, e := range ents {
			if data, err := fs.ReadFile(files, e.Name()); err == nil {
				sum := sha256.Sum256(data)
				tags[e.Name()] = `"` + hex.EncodeToString(sum[:16]) + `"`
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", Policy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// A page of another site that opened the console, or that the
		// console opened, gets no handle on its window.
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		if name == "" {
			name = "index.html"
		}
		if name != path.Clean(name) || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		switch path.Ext(name) {
		case ".html":
			h.Set("Content-Type", "text/html; charset=utf-8")
		case ".js":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		case ".css":
			h.Set("Content-Type", "text/css; charset=utf-8")
		case ".txt":
			h.Set("Content-Type", "text/plain; charset=utf-8")
		default:
			h.Set("Content-Type", "application/octet-stream")
		}
		if tag := tags[name]; tag != "" {
			h.Set("ETag", tag)
			if ifNoneMatch(r.Header.Get("If-None-Match"), tag) {
				h.Del("Content-Type")
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(data)
		}
	})
}

// ifNoneMatch says whether an If-None-Match header names tag (or is "*"),
// its entity tags compared weakly, as RFC 9110 asks for this header.
func ifNoneMatch(header, tag string) bool {
	// Walked in place: the route is public, and a header of a megabyte
	// of commas split into a slice cost that much again per request.
	for rest, more := header, true; more; {
		var t string
		t, rest, more = strings.Cut(rest, ",")
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}
