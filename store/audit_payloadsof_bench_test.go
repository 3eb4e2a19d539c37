package store

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// BenchmarkAuditAllPagePayloadsOf reads one page of the whole chain for
// tenant a, as GET /v1/audit?all=1 does, over a log holding 16 entries of
// 1 MiB of tenant b's: reading every payload (as the page did) against
// reading a's only (PayloadsOf), on each store.
func BenchmarkAuditAllPagePayloadsOf(b *testing.B) {
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
			log := audit.NewLog(s)
			if err := log.AppendFor(ctx, "a", "note", "", "a's first"); err != nil {
				b.Fatal(err)
			}
			for range 16 {
				if err := log.AppendFor(ctx, "b", "note", "", strings.Repeat("b", 1<<20)); err != nil {
					b.Fatal(err)
				}
			}
			if err := log.AppendFor(ctx, "a", "note", "", "a's last"); err != nil {
				b.Fatal(err)
			}
			page := AuditQuery{AllTenants: true, Limit: 1000, MaxBytes: 16 << 20, RefuseEntryBytes: 16 << 20}
			for _, c := range []struct {
				name string
				q    AuditQuery
			}{
				{"every payload", page},
				{"payloads of a", func() AuditQuery {
					q := page
					q.PayloadsOf, q.PayloadsUntenanted = "a", UntenantedOfRuns
					return q
				}()},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for range b.N {
						if es, _, err := s.AuditSelectPage(ctx, c.q); err != nil || len(es) < 16 {
							b.Fatalf("%d entries, %v", len(es), err)
						}
					}
				})
			}
		})
	}
}
