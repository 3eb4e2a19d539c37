package store

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// TestAuditDuplicateSeqAtPageEnd: someone who can write the database
// rebuilds the audit table without its primary key and adds a second row
// at the seq that ends a verification page (a copy, or a forged entry
// that claims that seq). The log's readers list it beside the entry of
// that seq; the verification, a page at a time, must read it too and
// report the break, not start its next page past that seq.
func TestAuditDuplicateSeqAtPageEnd(t *testing.T) {
	const n = verifyPage + 500
	rebuild := []string{
		`CREATE TABLE audit_copy AS SELECT * FROM audit`,
		`DROP TABLE audit`,
		`ALTER TABLE audit_copy RENAME TO audit`,
	}
	tests := []struct {
		name string
		sql  string
	}{
		// A row without a seq: readers that list the whole log fail on
		// it, and so must the verification, not pass it by.
		{"no seq", `INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version)
			SELECT NULL, time, kind, run_id, payload, prev_hash, hash, tenant, version FROM audit WHERE seq = 5`},
		{"copy", fmt.Sprintf(`INSERT INTO audit SELECT * FROM audit WHERE seq = %d`, verifyPage)},
		{"forged", fmt.Sprintf(`INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version)
			SELECT seq, time, 'transfer', run_id, '{"n":-1}', prev_hash, hash, tenant, version FROM audit WHERE seq = %d`, verifyPage)},
	}
	for _, open := range []struct {
		name string
		open func(t *testing.T) (Store, func(q string) error)
	}{
		{"SQLite", func(t *testing.T) (Store, func(q string) error) {
			s := openTest(t)
			return s, func(q string) error { _, err := s.DB().Exec(q); return err }
		}},
		{"Postgres", func(t *testing.T) (Store, func(q string) error) {
			ctx := context.Background()
			s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("test key 0123456")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, func(q string) error { _, err := s.pool.Exec(ctx, q); return err }
		}},
	} {
		for _, tc := range tests {
			t.Run(open.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				for i := 0; i < n; i += 250 {
					var recs []audit.Record
					for j := i + 1; j <= i+250; j++ {
						recs = append(recs, rec(t, audit.KindState, fmt.Sprintf("r%d", j%7), map[string]int{"n": j}))
					}
					if err := s.AppendAudit(ctx, recs...); err != nil {
						t.Fatal(err)
					}
				}
				for _, q := range append(rebuild, tc.sql) {
					if err := exec(q); err != nil {
						t.Fatal(err)
					}
				}
				res, err := s.VerifyAudit(ctx)
				if tc.name == "no seq" {
					if err == nil {
						t.Fatalf("a row without a seq: verified %+v, want an error", res)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				all, err := s.AuditEntries(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(all) != n+1 {
					t.Fatalf("the log's readers list %d entries, want %d", len(all), n+1)
				}
				if res.OK || res.Problem == nil || res.Problem.Seq != verifyPage {
					t.Fatalf("a second entry at seq %d, which the log's readers list: %+v (problem %+v), want a break at %d", verifyPage, res, res.Problem, verifyPage)
				}
			})
		}
	}
}
