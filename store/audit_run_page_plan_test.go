package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
)

// runPageQueries are the queries of one tenant's run's entries: the audit
// route's (?run=ID, with the entries its runs have from before entries
// named their tenant) and the others a tenant's query may be.
func runPageQueries() []AuditQuery {
	return []AuditQuery{
		{Tenant: "t", RunID: "rx", Limit: 100},
		{Tenant: "t", RunID: "rx", Untenanted: UntenantedOfRuns, Limit: 100},
		{Tenant: "t", RunID: "rx", Untenanted: UntenantedOfRuns, Limit: 100, After: 5, MaxBytes: 1 << 20},
		{Tenant: "t", RunID: "rx", Untenanted: AllUntenanted, Limit: 100},
	}
}

// TestSQLiteTenantRunPageUsesRunIndex: a page of one run's entries, asked
// for by its tenant (GET /v1/audit?run=ID), is read from the run's index,
// not from the tenant's. The store never analyzes its tables, and SQLite
// without statistics chose the tenant's index: every such page read every
// entry of the tenant after the page's start, to find the run's few (here
// 200,000 entries read for 2).
func TestSQLiteTenantRunPageUsesRunIndex(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.DB()
	// The tenant's entries, of 100 runs, and two of run rx (one at each
	// end); one more of rx names another tenant, and one none.
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
		INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version)
		SELECT i, '2026-12-01T00:00:00Z', 'state', CASE WHEN i IN (10, 199990) THEN 'rx' ELSE 'r' || (i % 100) END, '{}',
			printf('%064d', i - 1), printf('%064d', i), CASE WHEN i = 199990 THEN 'other' ELSE 't' END, 2 FROM n`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit SET tenant = '', version = 1 WHERE seq = 20`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit SET run_id = 'rx' WHERE seq IN (20, 150000)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
		VALUES ('rx', 't', '', 'Pending', '', 0, '', '{}', 1, '2026-12-01T00:00:00.000000000Z', '2026-12-01T00:00:00.000000000Z', '', 0, '', 0)`); err != nil {
		t.Fatal(err)
	}
	want := map[Untenanted][]int64{NoUntenanted: {10, 150000}, UntenantedOfRuns: {10, 20, 150000}, AllUntenanted: {10, 20, 150000}}
	for _, q := range runPageQueries() {
		if p := sqliteAuditPlan(t, db, q); !sqliteReadsIndex(p, "audit_run") {
			t.Errorf("%+v: a run's page is not read from the run's index:\n%s", q, p)
		}
		got := pageSeqs(t, s, q)
		if fmt.Sprint(got) != fmt.Sprint(want[q.Untenanted]) {
			t.Errorf("%+v: entries %v, want %v", q, got, want[q.Untenanted])
		}
	}
}

// TestPostgresTenantRunPageUsesRunIndex is
// TestSQLiteTenantRunPageUsesRunIndex for PostgreSQL, before and after
// the table is analyzed.
func TestPostgresTenantRunPageUsesRunIndex(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version)
		SELECT i, '2026-12-01T00:00:00Z', 'state', CASE WHEN i IN (10, 199990) THEN 'rx' ELSE 'r' || (i % 100) END, '{}',
			lpad((i - 1)::text, 64, '0'), lpad(i::text, 64, '0'), CASE WHEN i = 199990 THEN 'other' ELSE 't' END, 2
		FROM generate_series(1, 200000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE audit SET tenant = '', version = 1 WHERE seq = 20`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE audit SET run_id = 'rx' WHERE seq IN (20, 150000)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO runs (id, tenant, job, state, data, version, created_at, updated_at)
		VALUES ('rx', 't', 'j', 'finished', '{}', 1, now(), now())`); err != nil {
		t.Fatal(err)
	}
	want := map[Untenanted][]int64{NoUntenanted: {10, 150000}, UntenantedOfRuns: {10, 20, 150000}, AllUntenanted: {10, 20, 150000}}
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			if _, err := s.pool.Exec(ctx, `ANALYZE audit`); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range runPageQueries() {
			sq, args, err := auditSelect(q, func(n int) string { return fmt.Sprintf("$%d", n) })
			if err != nil {
				t.Fatal(err)
			}
			p := postgresPlan(t, s, sq, args...)
			if strings.Contains(p, "audit_tenant") || strings.Contains(p, "Seq Scan on audit") || !strings.Contains(p, "audit_run") {
				t.Errorf("analyzed %v, %+v: a run's page is not read from the run's index:\n%s", analyzed, q, p)
			}
			got := pageSeqs(t, s, q)
			if fmt.Sprint(got) != fmt.Sprint(want[q.Untenanted]) {
				t.Errorf("%+v: entries %v, want %v", q, got, want[q.Untenanted])
			}
		}
	}
}
