package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// noRows is a rowScanner with no rows.
type noRows struct{}

func (noRows) Next() bool        { return false }
func (noRows) Scan(...any) error { return nil }
func (noRows) Err() error        { return nil }

// verifyQueries is the SQL (and its arguments) of the reads a
// verification makes on a database's audit table: the pages of one kind
// (the accepted breaks) and the lookup of an entry by its hash.
func verifyQueries(ph func(int) string, cutInDB bool) (map[string]string, map[string][]any) {
	qs, args := map[string]string{}, map[string][]any{}
	var name string
	src := auditSource{cols: auditCols, ph: ph, cutInDB: cutInDB, query: func(q string, a ...any) (rowScanner, func(), error) {
		qs[name], args[name] = q, a
		return noRows{}, func() {}, nil
	}}
	name = "kind"
	src.Read(audit.KindBrokenAccepted, func([]audit.Entry) error { return nil })
	name = "hash"
	src.SeqOf(strings.Repeat("ab", 32))
	return qs, args
}

// auditPlanRows is how many entries the plan tests' logs hold: enough
// that a database would rather read an index than the table.
const auditPlanRows = 5000

// TestPostgresVerifyReadsUseIndexes: a verification's read of the
// accepted breaks (entries of one kind) and its lookup of an entry by
// hash are planned on an index, not a scan of the whole log, whose plan
// payloads make a log of thousands of runs hundreds of megabytes.
func TestPostgresVerifyReadsUseIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant)
		SELECT i, '2026-12-01T00:00:00Z', CASE WHEN i % 500 = 0 THEN $1 ELSE 'state' END, 'r' || (i % 100), repeat('x', 300),
			md5((i - 1)::text) || md5((i - 1)::text), md5(i::text) || md5(i::text), 't'
		FROM generate_series(1, $2) AS i`, audit.KindBrokenAccepted, auditPlanRows); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE audit`); err != nil {
		t.Fatal(err)
	}
	qs, args := verifyQueries(func(n int) string { return fmt.Sprintf("$%d", n) }, true)
	for name, index := range map[string]string{"kind": "audit_kind", "hash": "audit_hash"} {
		p := postgresPlan(t, s, qs[name], args[name]...)
		if !strings.Contains(p, index) || strings.Contains(p, "Seq Scan on audit") {
			t.Errorf("the lookup by %s is not planned on %s:\n%s\n%s", name, index, qs[name], p)
		}
	}
}

// TestSQLiteVerifyReadsUseIndexes is TestPostgresVerifyReadsUseIndexes
// for SQLite.
func TestSQLiteVerifyReadsUseIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.DB()
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant)
		SELECT i, '2026-12-01T00:00:00Z', CASE WHEN i % 500 = 0 THEN ? ELSE 'state' END, 'r' || (i % 100), printf('%.300c', 'x'),
			printf('%064d', i - 1), printf('%064d', i), 't' FROM n`, auditPlanRows, audit.KindBrokenAccepted); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	qs, args := verifyQueries(func(int) string { return "?" }, false)
	for name, index := range map[string]string{"kind": "audit_kind", "hash": "audit_hash"} {
		p := sqlitePlan(t, db, qs[name], args[name]...)
		if !strings.Contains(p, "INDEX "+index) {
			t.Errorf("the lookup by %s is not planned on %s:\n%s\n%s", name, index, qs[name], p)
		}
	}
}

// postgresPlan is PostgreSQL's plan of query q with args, one line a step.
func postgresPlan(t *testing.T, s *Postgres, q string, args ...any) string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// pageSeqs is the seqs of the audit page st selects for q: its selection
// alone, without the gap check of a lookup (the plan tests' logs are
// written by SQL, unsealed).
func pageSeqs(t *testing.T, st Store, q AuditQuery) []int64 {
	t.Helper()
	var page []audit.Entry
	var err error
	switch s := st.(type) {
	case *SQLite:
		page, err = s.selectAudit(context.Background(), q)
	case *Postgres:
		page, err = s.selectAudit(context.Background(), q)
	default:
		t.Fatalf("no selection in %T", st)
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range page {
		got = append(got, e.Seq)
	}
	return got
}

func sqlitePlan(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// sqliteAuditPlan is SQLite's plan of the query AuditSelect makes of q.
func sqliteAuditPlan(t *testing.T, db *sql.DB, q AuditQuery) string {
	t.Helper()
	sq, args, err := auditSelect(q, func(int) string { return "?" })
	if err != nil {
		t.Fatal(err)
	}
	return sqlitePlan(t, db, sq, args...)
}

// sqliteReadsIndex says whether plan p reads the audit table only through
// index (no scan of it, no search by another index).
func sqliteReadsIndex(p, index string) bool {
	for _, line := range strings.Split(p, "\n") {
		if strings.HasPrefix(line, "SEARCH audit ") && !strings.Contains(line, "INDEX "+index+" ") || strings.HasPrefix(line, "SCAN audit") {
			return false
		}
	}
	return true
}
