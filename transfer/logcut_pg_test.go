package transfer

import (
	"context"
	"errors"
	"slices"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// TestPostgresIndexCutLogRefuses is TestIndexCutLogRefuses's cut on
// PostgreSQL, as its writer makes it: the entries after k deleted and the
// head row (audit_head) set to entry k, so that appends go on from there.
// Both indexes refuse, before and after the log is written on past its
// old end; a fresh index folds it as it is.
func TestPostgresIndexCutLogRefuses(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, pgtest.NewDatabase(t), store.Options{AuditKey: []byte("index test key 0123456789abcdef!")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	led := AuditLedger{Store: st}
	recordCopy(t, led, 0)
	recordCopy(t, led, 1)
	asks := asksOver(t, st)
	asks.each(func(name string, ask func() ([]string, error)) {
		if got, err := ask(); err != nil || !slices.Equal(got, []string{"d0", "d1"}) {
			t.Fatalf("%s before the cut: %v, %v; want d0, d1", name, got, err)
		}
	})
	head, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM audit WHERE seq > $1`,
		`UPDATE audit_head SET seq = a.seq, hash = a.hash FROM audit a WHERE audit_head.id = 1 AND a.seq = $1`} {
		if _, err := st.Pool().Exec(ctx, q, head-2); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(when string) {
		asks.each(func(name string, ask func() ([]string, error)) {
			if got, err := ask(); !errors.Is(err, store.ErrAuditGap) {
				t.Errorf("%s %s: %v, %v; want refused (ErrAuditGap)", name, when, got, err)
			}
		})
	}
	refused("after the cut")
	recordCopy(t, led, 2)
	recordCopy(t, led, 3)
	refused("after the cut log was written on past its old end")
	fresh := asksOver(t, st)
	fresh.each(func(name string, ask func() ([]string, error)) {
		if got, err := ask(); err != nil || !slices.Equal(got, []string{"d0", "d2", "d3"}) {
			t.Errorf("%s of a fresh index: %v, %v; want d0, d2, d3", name, got, err)
		}
	})
}

// TestPostgresIndexCutOfUnreadAppendsRefuses is
// TestIndexCutOfUnreadAppendsRefuses on PostgreSQL: a copy recorded
// after both indexes last read the log, then cut (and the head row set
// back) before either reads again, has both refuse.
func TestPostgresIndexCutOfUnreadAppendsRefuses(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, pgtest.NewDatabase(t), store.Options{AuditKey: []byte("index test key 0123456789abcdef!")})
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
	for _, q := range []string{`DELETE FROM audit WHERE seq > $1`,
		`UPDATE audit_head SET seq = a.seq, hash = a.hash FROM audit a WHERE audit_head.id = 1 AND a.seq = $1`} {
		if _, err := st.Pool().Exec(ctx, q, head); err != nil {
			t.Fatal(err)
		}
	}
	asks.each(func(name string, ask func() ([]string, error)) {
		if got, err := ask(); !errors.Is(err, store.ErrAuditGap) {
			t.Errorf("%s after the unread copy was cut: %v, %v; want refused (ErrAuditGap)", name, got, err)
		}
	})
}
