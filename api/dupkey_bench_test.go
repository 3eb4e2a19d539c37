package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/jsondup"
	"meridian.dev/meridian/run"
)

// bigBodies are plan requests just under MaxBodyBytes, the largest body a
// route takes: one document of 4 MiB (the bytes in a string), and
// thousands of small ones (the bytes in keys and objects).
func bigBodies(tb testing.TB) map[string][]byte {
	one := run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: strings.Repeat("spec: {x: 1}\n", (MaxBodyBytes-200)/14)}}}
	var many run.PlanRequest
	for i := 0; ; i++ {
		many.Documents = append(many.Documents, run.Document{Name: fmt.Sprintf("doc-%d.yaml", i), Content: "kind: Organization\nmetadata: {name: o}\n"})
		if i%1000 == 0 {
			b, _ := json.Marshal(many)
			if len(b) > MaxBodyBytes-100<<10 {
				break
			}
		}
	}
	out := map[string][]byte{}
	for name, v := range map[string]run.PlanRequest{"one-document": one, "many-documents": many} {
		b, err := json.Marshal(v)
		if err != nil || len(b) > MaxBodyBytes {
			tb.Fatalf("%s: %d bytes, %v", name, len(b), err)
		}
		out[name] = b
	}
	return out
}

// BenchmarkDecodeBody is the read of a body of MaxBodyBytes into its
// request, as a route reads it.
func BenchmarkDecodeBody(b *testing.B) {
	for _, name := range []string{"one-document", "many-documents"} {
		body := bigBodies(b)[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("POST", "/v1/plans", bytes.NewReader(body))
				r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
				var req run.PlanRequest
				if !decodeBody(w, r, &req, "plan request") {
					b.Fatal(w.Body.String())
				}
			}
		})
	}
}

// BenchmarkDuplicateKey is the look for keys given twice alone, on the
// bodies of BenchmarkDecodeBody; "typed" is the look decodeBody makes, as
// the request's type (keys in another case, unknown ones).
func BenchmarkDuplicateKey(b *testing.B) {
	typ := reflect.TypeFor[run.PlanRequest]()
	for _, name := range []string{"one-document", "many-documents"} {
		body := bigBodies(b)[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if p := jsondup.Key(body); p != "" {
					b.Fatal(p)
				}
			}
		})
		b.Run(name+"/typed", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if p := jsondup.Check(body, typ); p.Kind != 0 {
					b.Fatal(p)
				}
			}
		})
	}
}
