package store

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkUnboundedReads: the reads without a limit on SQLite at their
// bound, and at twice it (refused after reading one row past the bound;
// read whole before there was one): a tenant's runs' versions, its
// resources (documents of 1 KiB), a run's timeline (reasons of 200
// bytes), every token. The rows are written with SQL.
func BenchmarkUnboundedReads(b *testing.B) {
	for _, times := range []int{1, 2} {
		b.Run(fmt.Sprintf("%dx the bound", times), func(b *testing.B) {
			ctx := context.Background()
			s := openTest(b)
			exec := func(q string, n int) {
				b.Helper()
				if _, err := s.DB().Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) `+q, n); err != nil {
					b.Fatal(err)
				}
			}
			exec(`INSERT INTO runs (id, tenant, job, state, data, version, created_at, updated_at)
				SELECT printf('r%06d', i), 'acme', 'j', 'succeeded', '{}', 1, printf('2026-01-01T00:00:00.%06dZ', i), '2026-01-01T00:00:00Z' FROM n`, times*MaxRunVersions)
			exec(`INSERT INTO events (run_id, seq, time, kind, reason)
				SELECT 'r000001', i, '2026-01-01T00:00:00Z', 'note', printf('%0200d', i) FROM n`, times*MaxEvents)
			exec(`INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at)
				SELECT 'acme', 'Dataset', printf('d%06d', i), '{"x":"' || printf('%01000d', i) || '"}', printf('%064d', i), '', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM n`, times*MaxListResources)
			exec(`INSERT INTO tokens (id, tenant, hash, note, created_at)
				SELECT printf('t%011d', i), printf('t%d', i % 1000), printf('%064d', i), 'ci', printf('2026-01-01T00:00:00.%06dZ', i) FROM n`, times*MaxTokens)
			for _, r := range []struct {
				name string
				read func() (int, error)
			}{
				{"RunVersions", func() (int, error) { vs, err := s.RunVersions(ctx, "acme"); return len(vs), err }},
				{"Events", func() (int, error) { es, err := s.Events(ctx, "r000001"); return len(es), err }},
				{"ListResources", func() (int, error) {
					s.res.changed() // read, not the cached list
					rs, err := s.ListResources(ctx, "acme", "")
					return len(rs), err
				}},
				{"ListTokens", func() (int, error) { ts, err := s.ListTokens(ctx); return len(ts), err }},
			} {
				b.Run(r.name, func(b *testing.B) {
					var n int
					var err error
					for range b.N {
						n, err = r.read()
					}
					b.ReportMetric(float64(n), "rows")
					if err != nil {
						b.Logf("%s: %v", r.name, err)
					}
				})
			}
		})
	}
}
