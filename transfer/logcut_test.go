package transfer

import (
	"context"
	"errors"
	"slices"
	"testing"

	"meridian.dev/meridian/store"
)

// TestIndexCutLogRefuses: whoever writes the database, without the audit
// key, cuts entries from the end of the log under a running server (cut
// alone, cut and the log written on past where it ended, or cut and
// another copy written in place of the one cut). Both indexes refuse to
// answer, with ErrAuditGap, rather than fold the log again from its
// start: they found the entry that was their head gone, refolded the
// shorter log, and the copy cut left the tenant's exports, so that a
// plan over a volume threshold was judged on totals that dropped it. A
// tenant first asked about after the cut is refused too (the index's
// highest head is shared by its tenants). The entries put back, both
// answer again as before; a fresh index (a server started again, whose
// start verifies the log against its anchor) folds the log as it is.
func TestIndexCutLogRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(t *testing.T, led AuditLedger, st *store.SQLite)
		want  []string // a fresh fold's
	}{
		{"cut", func(*testing.T, AuditLedger, *store.SQLite) {}, []string{"d0"}},
		{"cut, then written past its old end", func(t *testing.T, _ AuditLedger, st *store.SQLite) {
			for range 4 {
				appendState(t, st, "late")
			}
		}, []string{"d0"}},
		{"cut, then another copy in its place", func(t *testing.T, led AuditLedger, _ *store.SQLite) {
			recordCopy(t, led, 2)
		}, []string{"d0", "d2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			led, st := sqliteLedger(t)
			recordCopy(t, led, 0)
			recordCopy(t, led, 1)
			asks := asksOver(t, st)
			x := NewIndex(led)
			asks.each(func(name string, ask func() ([]string, error)) {
				if got, err := ask(); err != nil || !slices.Equal(got, []string{"d0", "d1"}) {
					t.Fatalf("%s before the cut: %v, %v; want d0, d1", name, got, err)
				}
			})
			if _, err := summaryOf(t, x, "acme"); err != nil {
				t.Fatal(err)
			}
			head, _, err := st.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			db := st.DB()
			for _, q := range []string{`CREATE TABLE cut AS SELECT * FROM audit WHERE seq > ?`, `DELETE FROM audit WHERE seq > ?`} {
				if _, err := db.ExecContext(ctx, q, head-2); err != nil {
					t.Fatal(err)
				}
			}
			tc.after(t, led, st)
			for range 2 {
				asks.each(func(name string, ask func() ([]string, error)) {
					if got, err := ask(); !errors.Is(err, store.ErrAuditGap) {
						t.Errorf("%s after the cut: %v, %v; want refused (ErrAuditGap)", name, got, err)
					}
				})
			}
			if got, err := summaryOf(t, x, "other"); !errors.Is(err, store.ErrAuditGap) {
				t.Errorf("another tenant's summary, first asked after the cut: %v, %v; want refused (ErrAuditGap)", got, err)
			}
			fresh := asksOver(t, st)
			fresh.each(func(name string, ask func() ([]string, error)) {
				if got, err := ask(); err != nil || !slices.Equal(got, tc.want) {
					t.Errorf("%s of a fresh index: %v, %v; want %v", name, got, err, tc.want)
				}
			})
			// The log put back as it was.
			if _, err := db.ExecContext(ctx, `DELETE FROM audit WHERE seq > ?`, head-2); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO audit SELECT * FROM cut`); err != nil {
				t.Fatal(err)
			}
			asks.each(func(name string, ask func() ([]string, error)) {
				if got, err := ask(); err != nil || !slices.Equal(got, []string{"d0", "d1"}) {
					t.Errorf("%s with the log put back: %v, %v; want d0, d1", name, got, err)
				}
			})
		})
	}
}
