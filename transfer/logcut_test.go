package transfer

import (
	"context"
	"errors"
	"path/filepath"
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
// answer again as before; a fresh index over the store opened again (a
// server started again, whose start verifies the log against its anchor)
// folds the log as it is. What is written after the cut is written by
// another server over the database: were it written by this one, the log
// put back would no longer hold what this one appended, and stay refused.
func TestIndexCutLogRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(t *testing.T, led AuditLedger, st *store.SQLite) // another server's
		want  []string                                              // a fresh fold's
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
			other := otherProcess(t, st)
			tc.after(t, AuditLedger{Store: other}, other)
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
			fresh := asksOver(t, otherProcess(t, st))
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

// TestIndexCutOfUnreadAppendsRefuses: a copy recorded through the ledger
// after both indexes last read the log (a staging's transfer records),
// then cut by someone who writes the database before either reads again,
// leaves the log's head where the indexes last read it. They answered
// from what they held, the log unchanged as far as they could tell, and
// a plan over a volume threshold was judged without the copy cut. The
// store's last appended entry is checked as a head read: both refuse,
// with ErrAuditGap. A server started again (the store opened afresh,
// whose start verifies the log against its anchor) folds the log as it
// is.
func TestIndexCutOfUnreadAppendsRefuses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	key := store.Options{AuditKey: []byte("index test key 0123456789abcdef!")}
	st, err := store.OpenSQLite(ctx, path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	led := AuditLedger{Store: st}
	recordCopy(t, led, 0)
	asks := asksOver(t, st)
	asks.each(func(name string, ask func() ([]string, error)) {
		if got, err := ask(); err != nil || !slices.Equal(got, []string{"d0"}) {
			t.Fatalf("%s before: %v, %v; want d0", name, got, err)
		}
	})
	head, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recordCopy(t, led, 1)
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit WHERE seq > ?`, head); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		asks.each(func(name string, ask func() ([]string, error)) {
			if got, err := ask(); !errors.Is(err, store.ErrAuditGap) {
				t.Errorf("%s after the unread copy was cut: %v, %v; want refused (ErrAuditGap)", name, got, err)
			}
		})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := store.OpenSQLite(ctx, path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	asksOver(t, again).each(func(name string, ask func() ([]string, error)) {
		if got, err := ask(); err != nil || !slices.Equal(got, []string{"d0"}) {
			t.Errorf("%s of a store opened again: %v, %v; want d0", name, got, err)
		}
	})
}

// otherProcess is another store over st's database file: another server
// over the same database, or this one started again.
func otherProcess(t testing.TB, st *store.SQLite) *store.SQLite {
	t.Helper()
	var seq int
	var name, file string
	if err := st.DB().QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	other, err := store.OpenSQLite(context.Background(), file, store.Options{AuditKey: []byte("index test key 0123456789abcdef!")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// Both stores tell the indexes the last entry they appended: without it
// a catch-up checks only the heads it read (a method renamed would drop
// the check without a word).
var (
	_ auditAppended = (*store.SQLite)(nil)
	_ auditAppended = (*store.Postgres)(nil)
)
