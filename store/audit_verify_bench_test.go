package store

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// BenchmarkVerifyAudit verifies a log of 20,000 entries, a page at a time,
// on each store.
func BenchmarkVerifyAudit(b *testing.B) {
	const n = 20000
	for _, open := range []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"SQLite", func(b *testing.B) Store { return openTest(b) }},
		{"Postgres", func(b *testing.B) Store {
			s, err := OpenPostgres(context.Background(), pgtest.NewDatabase(b), Options{AuditKey: []byte("test key 0123456")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		b.Run(open.name, func(b *testing.B) {
			ctx := context.Background()
			s := open.open(b)
			for i := 0; i < n; i += 500 {
				var recs []audit.Record
				for j := i + 1; j <= i+500; j++ {
					recs = append(recs, rec(b, audit.KindState, fmt.Sprintf("r%d", j%7), map[string]int{"n": j}))
				}
				if err := s.AppendAudit(ctx, recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				if res, err := s.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != n {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	}
}
