package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
)

// tenantKindRows is how many entries the tenant-and-kind tests' logs
// hold: half of them the tenant's, nearly all of another kind; a quarter
// another tenant's transfers; a quarter without a tenant (from before
// entries named their tenant), nearly all of another kind.
const tenantKindRows = 200000

// tenantKindQueries are the queries of a tenant's entries of some kinds:
// a page of its transfer ledger (with the default tenant's entries from
// before entries named their tenant, too) and the ledger's records after
// a seq.
func tenantKindQueries() []AuditQuery {
	return []AuditQuery{
		{Tenant: "t", Kinds: []string{"transfer"}, After: 5, Limit: 100, MaxBytes: 1 << 20},
		{Tenant: "t", Kinds: []string{"transfer"}, Untenanted: AllUntenanted, After: 5, Limit: 100, MaxBytes: 1 << 20},
		{Tenant: "t", Kinds: []string{"transfer", "volume"}, After: 5},
		{Tenant: "t", Kinds: []string{"transfer", "volume"}, Untenanted: AllUntenanted, After: 5, Limit: 100},
		{Tenant: "t", Kinds: []string{"transfer"}, Untenanted: AllUntenanted},
	}
}

// tenantKindWant is the seqs each of tenantKindQueries selects from the
// tests' logs: the tenant's transfers at 10 and 199,990, its volume at
// 150,000 and an untenanted transfer at 20.
func tenantKindWant(q AuditQuery) string {
	switch {
	case len(q.Kinds) == 2 && q.Untenanted == AllUntenanted:
		return "[10 20 150000 199990]"
	case len(q.Kinds) == 2:
		return "[10 150000 199990]"
	case q.Untenanted == AllUntenanted:
		return "[10 20 199990]"
	}
	return "[10 199990]"
}

// fillTenantKindSQLite writes the tests' log to db.
func fillTenantKindSQLite(tb testing.TB, db *sql.DB) {
	tb.Helper()
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version)
		SELECT i, '2026-12-01T00:00:00Z',
			CASE WHEN i IN (10, 20, 199990) THEN 'transfer' WHEN i = 150000 THEN 'volume' WHEN i %% 4 = 0 THEN 'transfer' ELSE 'state' END,
			'r' || (i %% 100), '{}', printf('%%064d', i - 1), printf('%%064d', i),
			CASE WHEN i IN (10, 150000, 199990) THEN 't' WHEN i = 20 OR i %% 4 = 1 THEN '' WHEN i %% 4 = 0 THEN 'u' ELSE 't' END, 2 FROM n`, tenantKindRows),
		`UPDATE audit SET version = 1 WHERE tenant = ''`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestSQLiteTenantKindPageUsesTenantKindIndex: a tenant's entries of some
// kinds (its transfer ledger, a page at a time) are read from the index on
// tenant and kind. From the tenant's index, each page read every entry of
// the tenant after the page's start to find its few transfers (here
// 200,000 entries read for 2), and any tenant may ask, page after page.
func TestSQLiteTenantKindPageUsesTenantKindIndex(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.DB()
	fillTenantKindSQLite(t, db)
	for _, q := range tenantKindQueries() {
		if p := sqliteAuditPlan(t, db, q); !sqliteReadsIndex(p, "audit_tenant_kind") {
			t.Errorf("%+v: a tenant's page of some kinds is not read from the tenant and kind index:\n%s", q, p)
		}
		got := pageSeqs(t, s, q)
		if fmt.Sprint(got) != tenantKindWant(q) {
			t.Errorf("%+v: entries %v, want %v", q, got, tenantKindWant(q))
		}
	}
}

// TestPostgresTenantKindPageUsesTenantKindIndex is
// TestSQLiteTenantKindPageUsesTenantKindIndex for PostgreSQL, before and
// after the table is analyzed.
func TestPostgresTenantKindPageUsesTenantKindIndex(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillTenantKindPostgres(t, s)
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			if _, err := s.pool.Exec(ctx, `ANALYZE audit`); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range tenantKindQueries() {
			sq, args, err := auditSelect(q, func(n int) string { return fmt.Sprintf("$%d", n) })
			if err != nil {
				t.Fatal(err)
			}
			if q.MaxBytes > 0 {
				sq = byteBounded(sq, auditCols, q.MaxBytes)
			}
			p := postgresPlan(t, s, sq, args...)
			if strings.Contains(p, "audit_tenant ") || strings.Contains(p, "audit_kind ") || strings.Contains(p, "Seq Scan on audit") || !strings.Contains(p, "audit_tenant_kind") {
				t.Errorf("analyzed %v, %+v: a tenant's page of some kinds is not read from the tenant and kind index:\n%s", analyzed, q, p)
			}
			got := pageSeqs(t, s, q)
			if fmt.Sprint(got) != tenantKindWant(q) {
				t.Errorf("%+v: entries %v, want %v", q, got, tenantKindWant(q))
			}
		}
	}
}

// fillTenantKindPostgres writes the tests' log to s.
func fillTenantKindPostgres(tb testing.TB, s *Postgres) {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version)
		SELECT i, '2026-12-01T00:00:00Z',
			CASE WHEN i IN (10, 20, 199990) THEN 'transfer' WHEN i = 150000 THEN 'volume' WHEN i % 4 = 0 THEN 'transfer' ELSE 'state' END,
			'r' || (i % 100), '{}', lpad((i - 1)::text, 64, '0'), lpad(i::text, 64, '0'),
			CASE WHEN i IN (10, 150000, 199990) THEN 't' WHEN i = 20 OR i % 4 = 1 THEN '' WHEN i % 4 = 0 THEN 'u' ELSE 't' END,
			CASE WHEN i = 20 OR i % 4 = 1 THEN 1 ELSE 2 END
		FROM generate_series(1, $1) AS i`, tenantKindRows); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkTenantKindPage reads a page of a tenant's transfers from the
// tests' log of 200,000 entries (tenantKindRows), on each store.
func BenchmarkTenantKindPage(b *testing.B) {
	ctx := context.Background()
	q := AuditQuery{Tenant: "t", Kinds: []string{"transfer"}, After: 5, Limit: 100, MaxBytes: 1 << 20}
	b.Run("SQLite", func(b *testing.B) {
		s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "m.db"), Options{AuditKey: []byte("0123456789abcdef")})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fillTenantKindSQLite(b, s.DB())
		benchTenantKindPage(b, s, q)
	})
	b.Run("Postgres", func(b *testing.B) {
		s, err := OpenPostgres(ctx, pgtest.NewDatabase(b), Options{AuditKey: []byte("0123456789abcdef")})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fillTenantKindPostgres(b, s)
		if _, err := s.pool.Exec(ctx, `ANALYZE audit`); err != nil {
			b.Fatal(err)
		}
		benchTenantKindPage(b, s, q)
	})
}

func benchTenantKindPage(b *testing.B, s Store, q AuditQuery) {
	b.ResetTimer()
	for range b.N {
		page, err := s.AuditSelect(context.Background(), q)
		if err != nil || len(page) != 2 {
			b.Fatalf("%d entries, %v", len(page), err)
		}
	}
}
