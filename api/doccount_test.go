package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/jsondup"
)

// TestDocumentsCountedBeforeDecoding: a request whose documents list more
// files than a request may hold (MaxRequestDocuments) is refused, naming
// documents, before its files are decoded, on every route that takes
// documents. Before, the body was decoded first: 4 MiB of empty files
// ({}, three bytes each) made 1.4 million of them, and allocated 270 MB
// (65 times the body) and took over a second of a processor each, before
// the controller refused the 65th file.
func TestDocumentsCountedBeforeDecoding(t *testing.T) {
	f := newFixture(t)
	n := (MaxBodyBytes - 64) / 3
	body := []byte(`{"documents":[` + strings.Repeat(`{},`, n-1) + `{}]}`)
	for _, path := range []string{"/v1/runs", "/v1/plans", "/v1/estimates", "/v1/resources"} {
		best := uint64(1 << 62)
		for range 2 {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", path, bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tokA)
			r.Header.Set("Content-Type", BodyType)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			f.h.ServeHTTP(w, r)
			runtime.ReadMemStats(&after)
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"field":"documents"`) {
				t.Fatalf("POST %s with %d files: %d %s, want 400 naming documents", path, n, w.Code, w.Body.String())
			}
			best = min(best, after.TotalAlloc-before.TotalAlloc)
		}
		// The body's buffer (at most twice its size as it is read) and
		// a little more: not a file decoded for each of its 1.4 million.
		if limit := uint64(3 * len(body)); best > limit {
			t.Errorf("POST %s: a body of %d empty files allocated %d bytes (%.1f times the body), want at most %d", path, n, best, float64(best)/float64(len(body)), limit)
		}
	}
	// The bound is the controller's: 64 files pass the count (and are
	// judged by the controller), 65 do not.
	for _, c := range []struct {
		files int
		count bool
	}{{MaxRequestDocuments, false}, {MaxRequestDocuments + 1, true}} {
		docs := strings.TrimSuffix(strings.Repeat(`{"name":"j.yaml","content":"x: 1"},`, c.files), ",")
		code, e := f.raw(t, "POST", "/v1/plans", tokA, `{"documents":[`+docs+`]}`)
		counted := strings.Contains(e.Message, fmt.Sprintf("more than %d files", MaxRequestDocuments))
		if code != http.StatusBadRequest || e.Field != "documents" || counted != c.count {
			t.Errorf("%d files: %d %+v, want 400 naming documents, refused by the count: %v", c.files, code, e, c.count)
		}
	}
}

// TestArrayOver: arrayOver counts the elements of the top-level key's
// array only, read as JSON: not those of a nested array, another key's or
// a nested object's key of the same name, nor commas and brackets within
// strings; an escaped key is read as decoded.
func TestArrayOver(t *testing.T) {
	elems := func(n int, elem string) string { return strings.TrimSuffix(strings.Repeat(elem+",", n), ",") }
	for _, c := range []struct {
		body string
		over bool
	}{
		{`{"documents":[` + elems(3, `{}`) + `]}`, false},
		{`{"documents":[` + elems(4, `{}`) + `]}`, true},
		{`{"documents":[]}`, false},
		{`{"documents": [ ` + elems(4, ` "a" `) + ` ] }`, true},
		{`{"documents":[` + elems(3, `[1,2,3,4,5]`) + `]}`, false},
		{`{"documents":[` + elems(3, `{"name":"a,b,c,d,e","content":"[,,,,]\",,,"}`) + `]}`, false},
		{`{"job":[` + elems(9, `1`) + `],"documents":[` + elems(2, `{}`) + `]}`, false},
		{`{"x":{"documents":[` + elems(9, `1`) + `]},"documents":[1]}`, false},
		{`{"a\"documents":[` + elems(9, `1`) + `]}`, false},
		{`{"docum\u0065nts":[` + elems(4, `{}`) + `]}`, true},
		{`{"job":"documents","documents":[` + elems(4, `1`) + `]}`, true},
		{`[` + elems(9, `1`) + `]`, false},
	} {
		if got := arrayOver([]byte(c.body), "documents", 3); got != c.over {
			t.Errorf("%s: over %v, want %v", c.body, got, c.over)
		}
	}
}

// FuzzArrayOver: on any body that is JSON, holds an object and gives no
// key twice, arrayOver says what decoding the body says of its documents.
func FuzzArrayOver(f *testing.F) {
	for _, s := range []string{`{"documents":[{},{},{},{}]}`, `{"documents":["a,b","]",[1,2]],"job":"x"}`, `{"docum\u0065nts":[1,2,3,4,5]}`,
		`{"x":{"documents":[1,2,3,4]},"documents":[]}`, `{"documents":"[1,2,3,4]"}`, `{"a\\":"documents","documents":[1,2,3,4]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil || jsondup.Key(body) != "" {
			return
		}
		var want struct {
			Documents []json.RawMessage `json:"documents"`
		}
		over := false
		if raw, ok := top["documents"]; ok && json.Unmarshal(raw, &want.Documents) == nil {
			over = len(want.Documents) > 3
		}
		if got := arrayOver(body, "documents", 3); got != over {
			t.Errorf("%s: over %v, want %v", body, got, over)
		}
	})
}
