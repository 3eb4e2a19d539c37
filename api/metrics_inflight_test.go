package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/metrics"
	"meridian.dev/meridian/store"
)

// TestAdminScrapesInFlightBounded: the admin's GET /metrics made a new
// metrics handler for each request, so the bound the handler keeps on
// the scrapes it gathers at once (each holding megabytes) held for none:
// with the store slow to answer, every scrape waited. The handler is now
// made once, and scrapes past its bound are refused at once with 503.
func TestAdminScrapesInFlightBounded(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{})
	ctx := context.Background()
	if _, err := AddToken(ctx, f.st, "ops", tokAdmin, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	m := metrics.New(metrics.Sources{RunCounts: func(context.Context) ([]store.RunCount, error) {
		<-release
		return nil, nil
	}})
	srv := httptest.NewServer(New(f.c, Options{Tokens: f.st, Audit: f.st, Metrics: m, RateLimit: RateLimit{Rate: 1000, Burst: 1000}}))
	t.Cleanup(srv.Close)
	const n = 32
	type answer struct {
		code int
		body string
	}
	codes := make(chan answer, n)
	for range n {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+tokAdmin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- answer{body: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes <- answer{resp.StatusCode, string(b)}
		}()
	}
	// While the store is held, the scrapes past the bound are refused
	// for it (not for the handler's timeout, which refuses any scrape
	// held too long with 503 too); a failing run is bounded by the
	// guard, nothing is timed.
	refused := 0
	timeout := time.After(30 * time.Second)
	for refused < n/2 {
		select {
		case c := <-codes:
			if c.code != http.StatusServiceUnavailable || !strings.Contains(c.body, "concurrent requests") {
				t.Fatalf("a scrape answered %d %q while the store was held; want 503 for the bound on scrapes in flight", c.code, c.body)
			}
			refused++
		case <-timeout:
			t.Fatalf("%d of %d scrapes refused while the store was held; want all but the handler's bound refused at once", refused, n)
		}
	}
	free()
}
