package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// FuzzQueryParams sends a tenant's GET routes any query: each answer is
// 2xx, or a 4xx whose body is the JSON error, and a 400 names the field
// (the parameter) it refuses; never a 5xx or a panic. Streams (follow)
// are left out: they last as long as what they follow.
func FuzzQueryParams(f *testing.F) {
	fx := newFixtureWith(f, fixtureOptions{})
	r, err := NewClient(fx.srv.URL, tokA).Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		f.Fatal(err)
	}
	fill := strings.NewReplacer("{id}", r.ID, "{name}", "none", "{tenant}", "a")
	var routes []Route
	for _, rt := range fx.h.Routes() {
		// The fixture's controller keeps no transfer ledger (a server
		// does): GET /v1/ledger is TestLedgerPages' to check.
		if rt.Method == http.MethodGet && rt.Access != Admin && !rt.Streaming && rt.Path != "/v1/ledger" {
			routes = append(routes, rt)
		}
	}
	if len(routes) < 10 {
		f.Fatalf("%d GET routes", len(routes))
	}
	for i, rt := range routes {
		for _, p := range rt.Query {
			f.Add(uint8(i), p.Name+"=1")
			f.Add(uint8(i), p.Name+"=-1&"+p.Name+"=2")
			f.Add(uint8(i), p.Name+"=%zz")
			f.Add(uint8(i), p.Name+"=9223372036854775808")
		}
	}
	f.Add(uint8(0), "limit=1&after=eyJ4IjoxfQ")
	f.Add(uint8(0), "a;b")
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		rt := routes[int(which)%len(routes)]
		if q, err := url.ParseQuery(query); err == nil {
			for k := range q {
				if k == "follow" {
					return
				}
			}
		}
		target := fill.Replace(rt.Path)
		req := httptest.NewRequest(rt.Method, "http://server"+target, nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+tokA)
		ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
		defer cancel()
		req = req.WithContext(ctx)
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 || rec.Code >= 300 && rec.Code < 400 {
			t.Fatalf("GET %s?%s: status %d: %s", target, query, rec.Code, rec.Body.String())
		}
		if rec.Code < 400 {
			return
		}
		var e ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" || e.Error.Code == "" {
			t.Fatalf("GET %s?%s: %d and not the JSON error (%v): %q", target, query, rec.Code, err, rec.Body.String())
		}
		if rec.Code == http.StatusBadRequest && e.Error.Field == "" {
			t.Fatalf("GET %s?%s: 400 naming no field: %+v", target, query, e.Error)
		}
	})
}
