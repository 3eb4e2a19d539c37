package api

import (
	"context"
	"io"
	"net/http"
	"testing"

	"meridian.dev/meridian/store"
)

// BenchmarkTenantsList: GET /v1/tenants with as many tokens as the store
// lists (store.MaxTokens, each its own tenant's, written with SQL): a page
// as the client asks for it, the request without limit (the whole list
// before there were pages, a 400 since), and the client's listing of
// every page.
func BenchmarkTenantsList(b *testing.B) {
	f := newFixtureWith(b, fixtureOptions{})
	ctx := context.Background()
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(ctx, f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		b.Fatal(err)
	}
	sq, ok := f.st.(*store.SQLite)
	if !ok {
		b.Skip("the rows are written with SQLite's SQL")
	}
	if _, err := sq.DB().Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO tokens (id, tenant, hash, note, created_at)
		SELECT printf('t%011d', i), printf('t%05d', i), printf('%064d', i), 'ci', printf('2026-01-01T00:00:00.%06dZ', i) FROM n`, store.MaxTokens-10); err != nil {
		b.Fatal(err)
	}
	get := func(b *testing.B, path string) {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tokOps)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.ReportMetric(float64(n), "bytes")
		b.ReportMetric(float64(resp.StatusCode), "status")
	}
	b.Run("a page", func(b *testing.B) {
		for range b.N {
			get(b, "/v1/tenants?limit=500")
		}
	})
	b.Run("without limit", func(b *testing.B) {
		for range b.N {
			get(b, "/v1/tenants")
		}
	})
	b.Run("the client's listing", func(b *testing.B) {
		for range b.N {
			if _, err := NewClient(f.srv.URL, tokOps).Tenants(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
