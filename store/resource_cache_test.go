package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

func cacheResource(name, doc string) *store.Resource {
	sum := sha256.Sum256([]byte(doc))
	return &store.Resource{Tenant: "acme", Kind: "Dataset", Name: name, Doc: []byte(doc), Hash: hex.EncodeToString(sum[:])}
}

// TestListResourcesSeesOutsideWrite: a tenant's resource list, read once
// (and so cached), then a row rewritten by another connection to the
// database (another process, or SQL by hand): the next list shows the row
// as it now is, and a row made bad (a BLOB) is refused, on both stores.
// The SQLite store's cache answered the old row until its own next write.
func TestListResourcesSeesOutsideWrite(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "m.db")
		s := openSQLite(t, path)
		other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		listSeesOutsideWrite(t, s, func(ctx context.Context, q string, args ...any) error {
			_, err := other.ExecContext(ctx, q, args...)
			return err
		}, "?", true)
	})
	t.Run("Postgres", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		s := openPostgres(t, url)
		other, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close(context.Background())
		listSeesOutsideWrite(t, s, func(ctx context.Context, q string, args ...any) error {
			_, err := other.Exec(ctx, q, args...)
			return err
		}, "$", false)
	})
}

func listSeesOutsideWrite(t *testing.T, s store.Store, exec func(ctx context.Context, q string, args ...any) error, ph string, blob bool) {
	ctx := context.Background()
	p := func(i int) string {
		if ph == "?" {
			return "?"
		}
		return fmt.Sprintf("$%d", i)
	}
	for _, n := range []string{"d1", "d2"} {
		if _, err := s.PutResource(ctx, cacheResource(n, `{"v":1}`), 0, audit.Record{Kind: "resource", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(kind string) []*store.Resource {
		t.Helper()
		rs, err := s.ListResources(ctx, "acme", kind)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	for _, kind := range []string{"", "Dataset"} {
		if rs := list(kind); len(rs) != 2 || string(rs[0].Doc) != `{"v":1}` {
			t.Fatalf("list %q: %d resources", kind, len(rs))
		}
	}
	if err := exec(ctx, `UPDATE resources SET doc = `+p(1)+`, version = version + 1 WHERE name = `+p(2), `{"v":2}`, "d1"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"", "Dataset"} {
		rs := list(kind)
		if len(rs) != 2 || string(rs[0].Doc) != `{"v":2}` || rs[0].Version != 2 {
			t.Errorf("list %q after an outside write: d1 is %s, version %d; want the row as rewritten, {\"v\":2} version 2", kind, rs[0].Doc, rs[0].Version)
		}
	}
	// A row added outside shows too.
	if err := exec(ctx, `INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at)
		SELECT tenant, kind, 'd3', doc, hash, store_key, version, created_at, updated_at FROM resources WHERE name = 'd2'`); err != nil {
		t.Fatal(err)
	}
	if rs := list(""); len(rs) != 3 {
		t.Errorf("list after an outside insert: %d resources, want 3", len(rs))
	}
	if !blob {
		return
	}
	list("Dataset")
	if err := exec(ctx, `UPDATE resources SET doc = CAST(doc AS BLOB) WHERE name = 'd2'`); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"", "Dataset"} {
		rs, err := s.ListResources(ctx, "acme", kind)
		if err == nil || !strings.Contains(err.Error(), "BLOB") {
			t.Errorf("list %q after d2's doc was rewritten as a BLOB: %d resources, %v; want the refusal naming it", kind, len(rs), err)
		}
	}
}

// BenchmarkListResources lists a tenant's 50 resources (every submission
// does, for its kinds): answered from the cache on SQLite.
func BenchmarkListResources(b *testing.B) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "m.db"), store.Options{AuditKey: []byte("bench key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchListResources(b, s)
}

// BenchmarkListResourcesPostgres is BenchmarkListResources on PostgreSQL.
func BenchmarkListResourcesPostgres(b *testing.B) {
	s, err := store.OpenPostgres(context.Background(), pgtest.NewDatabase(b), store.Options{AuditKey: []byte("bench key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchListResources(b, s)
}

func benchListResources(b *testing.B, s store.Store) {
	ctx := context.Background()
	for i := range 50 {
		if _, err := s.PutResource(ctx, cacheResource(fmt.Sprintf("d%02d", i), `{"kind":"Dataset","v":1}`), 0, audit.Record{Kind: "resource", Payload: []byte(`{}`)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := s.ListResources(ctx, "acme", "Dataset")
		if err != nil || len(rs) != 50 {
			b.Fatal(len(rs), err)
		}
	}
}
