package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// TestResourcesPastStoreBoundRefused: a tenant's resources grown past
// what the store reads at once (rows written to the database outside
// Meridian, or by requests in flight at once past the tenant's bound):
// GET /v1/resources read every row, however many, at each request. The
// store now reads one past its bound and refuses; the route answers 409
// naming the read and the bound, not a server fault.
func TestResourcesPastStoreBoundRefused(t *testing.T) {
	f := newFixture(t)
	sq, ok := f.st.(*store.SQLite)
	if !ok {
		t.Skip("the rows are written with SQLite's SQL")
	}
	if _, err := sq.DB().Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at)
		SELECT 'a', 'Dataset', printf('d%06d', i), '{}', printf('%064d', i), '', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM n`,
		store.MaxListResources+1); err != nil {
		t.Fatal(err)
	}
	code, e := f.raw(t, "GET", "/v1/resources", tokA, "")
	if code != http.StatusConflict || e.Code != "too_many" || !strings.Contains(e.Message, fmt.Sprintf("more than %d", store.MaxListResources)) {
		t.Errorf("GET /v1/resources: %d %+v; want 409 too_many naming the bound %d", code, e, store.MaxListResources)
	}
	// Another tenant's list is read as ever.
	if code, e := f.raw(t, "GET", "/v1/resources", tokB, ""); code != http.StatusOK {
		t.Errorf("tenant b's GET /v1/resources: %d %+v; want 200", code, e)
	}
}
