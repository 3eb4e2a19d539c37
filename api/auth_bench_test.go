package api

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkAuthenticatedGet is a whole authenticated call, GET
// /v1/healthz over a real connection to a server on a SQLite store: with
// the token's principal in the cache (cached), and with a cache that
// vouches for nothing, so that every request reads the token store
// (uncached), which is what the first request of a token, and every one
// on a replica that has not seen it, costs.
//
//	go test ./api -run '^$' -bench AuthenticatedGet -benchtime 2000x
func BenchmarkAuthenticatedGet(b *testing.B) {
	for _, tc := range []struct {
		name   string
		cached bool
	}{{"cached", true}, {"uncached", false}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixtureWith(b, fixtureOptions{})
			if !tc.cached {
				f.h.auth.CacheFor = 0
			}
			req, _ := http.NewRequest("GET", f.srv.URL+"/v1/healthz", nil)
			req.Header.Set("Authorization", "Bearer "+tokA)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
