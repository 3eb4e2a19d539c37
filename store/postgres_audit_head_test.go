package store

import (
	"context"
	"errors"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// TestPostgresAppendRefusesRewrittenHead: someone who can write the
// database, without the audit key, rewrites the head row (audit_head),
// which every append chains from. The next entries followed whatever it
// said: a seq past the log's end (a gap that reads as entries deleted), an
// older entry's hash (a break that reads as the log edited), a seq already
// taken. The append must refuse, naming the mismatch, and write nothing;
// once the row is restored, appends go on.
func TestPostgresAppendRefusesRewrittenHead(t *testing.T) {
	for _, c := range []struct{ name, sql string }{
		{"seq ahead", `UPDATE audit_head SET seq = seq + 5`},
		{"seq behind", `UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit WHERE seq = 2)`},
		{"older hash", `UPDATE audit_head SET hash = (SELECT hash FROM audit WHERE seq = 1)`},
		{"empty", `UPDATE audit_head SET seq = 0, hash = '` + emptyHead + `'`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := 1; i <= 3; i++ {
				if err := s.AppendAudit(ctx, rec(t, audit.KindTransfer, "ra", map[string]int{"bytes": i})); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.pool.Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			err = s.AppendAudit(ctx, rec(t, audit.KindTransfer, "ra", map[string]int{"bytes": 4}))
			if !errors.Is(err, ErrAuditHead) {
				t.Fatalf("append after the head row was rewritten (%s): %v, want ErrAuditHead", c.sql, err)
			}
			var n int
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM audit`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Errorf("the refused append left %d entries, want 3", n)
			}
			// A run's change that appends is refused whole, too.
			if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "t", Job: "j", State: "planned", Data: []byte(`{}`)}, "",
				Change{Audit: []audit.Record{rec(t, audit.KindState, "r1", 1)}}); !errors.Is(err, ErrAuditHead) {
				t.Errorf("a run created with an entry after the head row was rewritten: %v, want ErrAuditHead", err)
			}
			if _, err := s.GetRun(ctx, "r1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("the refused run's row: %v, want none", err)
			}
			if _, err := s.pool.Exec(ctx, `UPDATE audit_head SET (seq, hash) = (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1)`); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendAudit(ctx, rec(t, audit.KindTransfer, "ra", map[string]int{"bytes": 4})); err != nil {
				t.Fatalf("append once the head row is restored: %v", err)
			}
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 4 {
				t.Errorf("verify: %+v, %v", res, err)
			}
		})
	}
}

// BenchmarkPostgresAppendAudit appends one entry a transaction: the head
// row's lock, its check against the newest entry, the insert.
func BenchmarkPostgresAppendAudit(b *testing.B) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(b), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rec(b, audit.KindTransfer, "ra", map[string]int{"bytes": 1})
	for b.Loop() {
		if err := s.AppendAudit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
