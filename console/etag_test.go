package console

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStaticFilesRevalidate: the console's files were sent whole at each
// load (no-cache, and no validator the browser could check its copy
// against): the 212 KB script to every request, on a public route. Each
// file now carries an ETag, and a request naming it is answered 304 with
// no body, the security headers still set.
func TestStaticFilesRevalidate(t *testing.T) {
	h := Handler()
	get := func(name, inm string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", Prefix+name, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := get("main.js", "")
	tag := first.Header().Get("ETag")
	if first.Code != http.StatusOK || first.Body.Len() < 1000 || tag == "" {
		t.Fatalf("main.js: %d, %d bytes, ETag %q; want it whole with an ETag", first.Code, first.Body.Len(), tag)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		again := get("main.js", inm)
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("main.js with If-None-Match %s: %d, %d bytes; want 304, no body", inm, again.Code, again.Body.Len())
		}
		if again.Header().Get("Content-Security-Policy") != Policy || again.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("a 304 of main.js lacks the console's headers: %v", again.Header())
		}
	}
	if other := get("main.js", `"not-it"`); other.Code != http.StatusOK || other.Body.Len() != first.Body.Len() {
		t.Errorf("main.js with another ETag: %d, %d bytes; want it whole", other.Code, other.Body.Len())
	}
	if page := get("", ""); page.Header().Get("ETag") == "" || page.Header().Get("ETag") == tag {
		t.Errorf("the page's ETag %q; want its own", page.Header().Get("ETag"))
	}
}
