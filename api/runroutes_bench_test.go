package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// BenchmarkRunRoutes is the whole call, over a real connection to a
// server on a SQLite store, of GET /v1/runs/{id} of a run with 256 KiB of
// documents by its owner (own) and by another tenant (other, a 404), and
// of a page of its output (logs, no attempts: the route's own cost,
// its slot included).
//
//	go test ./api -run '^$' -bench RunRoutes -benchtime 500x
func BenchmarkRunRoutes(b *testing.B) {
	f := newFixtureWith(b, fixtureOptions{})
	ctx := context.Background()
	data, _ := json.Marshal(run.Data{Documents: []run.Document{{Name: "job.yaml", Content: strings.Repeat("#", 256<<10)}}, AsOf: "2026-12-01"})
	if _, _, err := f.st.CreateRun(ctx, &store.Run{ID: "run-bench", Tenant: "a", Job: "j", State: string(run.Succeeded), Data: data}, "", store.Change{}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, path, tok string
		code            int
	}{
		{"get/own", "/v1/runs/run-bench", tokA, 200},
		{"get/other", "/v1/runs/run-bench", tokB, 404},
		{"logs/page", "/v1/runs/run-bench/logs?limit=1024", tokA, 200},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", f.srv.URL+bc.path, nil)
			req.Header.Set("Authorization", "Bearer "+bc.tok)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != bc.code {
					b.Fatalf("status %d, want %d", resp.StatusCode, bc.code)
				}
			}
		})
	}
}

// BenchmarkRevokedReplay is a lookup of a revoked token's principal
// beside a live one's, on a store that answers at once: what a tenant
// that replays a revoked token costs the server's auth.
//
//	go test ./api -run '^$' -bench RevokedReplay
func BenchmarkRevokedReplay(b *testing.B) {
	ctx := context.Background()
	revokedAt := time.Unix(1_700_000_000, 0)
	hA, hB := store.HashToken(tokA), store.HashToken(tokB)
	ts := &tokenReads{tokens: map[string]*store.Token{
		hA: {ID: store.TokenID(hA), Tenant: "alpha", Hash: hA, RevokedAt: &revokedAt},
		hB: {ID: store.TokenID(hB), Tenant: "beta", Hash: hB},
	}, reads: map[string]int{}}
	a := NewAuth(ts)
	b.ReportAllocs()
	for range b.N {
		a.Principal(ctx, tokA)
		a.Principal(ctx, tokB)
	}
	b.ReportMetric(float64(ts.readsOf(hA)+ts.readsOf(hB))/float64(b.N), "storeReads/op")
}
