package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

// TestHandler: the page and the bundle's files, each with the console's
// security headers and its type; nothing else.
func TestHandler(t *testing.T) {
	h := Handler()
	for path, typ := range map[string]string{
		"/console/":             "text/html; charset=utf-8",
		"/console/index.html":   "text/html; charset=utf-8",
		"/console/main.js":      "text/javascript; charset=utf-8",
		"/console/style.css":    "text/css; charset=utf-8",
		"/console/LICENSES.txt": "text/plain; charset=utf-8",
	} {
		resp := get(t, h, "GET", path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("Content-Type"); got != typ {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, typ)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != Policy {
			t.Errorf("GET %s: Content-Security-Policy %q", path, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" ||
			resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
	}
	for _, path := range []string{"/console/nothing.js", "/console/../console.go", "/console/dist/main.js", "/console/a/b", "/console/.", "/console/%2e%2e/go.mod"} {
		if resp := get(t, h, "GET", path); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp := get(t, h, "HEAD", "/console/main.js"); resp.StatusCode != 200 {
		t.Errorf("HEAD: %d", resp.StatusCode)
	} else if b, _ := io.ReadAll(resp.Body); len(b) != 0 {
		t.Errorf("HEAD answered %d bytes", len(b))
	}
}

// TestPageLoadsOnlyItsOwnFiles: the page names only files of the bundle,
// by relative path (no network, no inline script the CSP would block).
func TestPageLoadsOnlyItsOwnFiles(t *testing.T) {
	page, err := fs.ReadFile(Files(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 2 {
		t.Fatalf("the page loads %d files", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if ref == "#main" || ref == "data:," {
			continue
		}
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") {
			t.Errorf("the page loads %q from elsewhere", ref)
			continue
		}
		if _, err := fs.Stat(Files(), ref); err != nil {
			t.Errorf("the page loads %q, which the bundle lacks", ref)
		}
	}
	if strings.Contains(string(page), "<script>") || strings.Contains(string(page), " style=") {
		t.Error("the page has inline script or style, which its CSP refuses")
	}
	js, err := fs.ReadFile(Files(), "main.js")
	if err != nil {
		t.Fatal(err)
	}
	// The bundled packages' licences travel with them.
	lic, err := fs.ReadFile(Files(), "LICENSES.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"d3-geo", "topojson-client", "world-atlas"} {
		if !strings.Contains(string(lic), "==== "+pkg+" ") {
			t.Errorf("LICENSES.txt lacks %s", pkg)
		}
	}
	// The world is in the bundle: the script fetches nothing but the API.
	for _, bad := range []string{"cdn.jsdelivr", "unpkg.com", "document.cookie", "localStorage.setItem", "eval("} {
		if strings.Contains(string(js), bad) {
			t.Errorf("the bundle holds %q", bad)
		}
	}
}
