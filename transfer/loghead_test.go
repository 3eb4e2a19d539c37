package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/store"
)

// ledgerAsks is what both indexes over a store answer of acme: its
// summary's datasets and its exports'.
type ledgerAsks struct {
	summary, exports func() ([]string, error)
}

// asksOver builds both indexes over cs.
func asksOver(t *testing.T, cs AuditStore) ledgerAsks {
	x, ex := NewIndex(AuditLedger{Store: cs}), AuditExports(cs)
	return ledgerAsks{
		summary: func() ([]string, error) { return summaryOf(t, x, "acme") },
		exports: func() ([]string, error) { return exportYear(t, ex, "acme") },
	}
}

// each runs f on both asks, by name.
func (a ledgerAsks) each(f func(name string, ask func() ([]string, error))) {
	f("summary", a.summary)
	f("exports", a.exports)
}

// TestIndexCutLogIsNotRead: a log cut back fails both indexes before
// they read it, and the cut entries put back, they answer as before. They
// folded the cut log afresh: a fresh fold whose read failed left an
// emptied index, and one that succeeded left out what was cut.
func TestIndexCutLogIsNotRead(t *testing.T) {
	ctx := context.Background()
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	recordCopy(t, led, 0)
	recordCopy(t, led, 1)
	asks := asksOver(t, cs)
	want := []string{"d0", "d1"}
	asks.each(func(name string, ask func() ([]string, error)) {
		if got, err := ask(); err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s, first read: %v, %v; want %v", name, got, err, want)
		}
	})
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
	cs.selects = 0
	asks.each(func(name string, ask func() ([]string, error)) {
		if got, err := ask(); !errors.Is(err, store.ErrAuditGap) {
			t.Fatalf("%s, the log cut: %v, %v; want refused (ErrAuditGap)", name, got, err)
		}
	})
	if cs.selects != 0 {
		t.Errorf("the log cut: %d audit selections, want none", cs.selects)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO audit SELECT * FROM cut`); err != nil {
		t.Fatal(err)
	}
	asks.each(func(name string, ask func() ([]string, error)) {
		got, err := ask()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s, the cut entries put back (-want +got):\n%s", name, diff)
		}
	})
}

// TestIndexFoldsNoFurtherThanTheHead: a record appended between a
// catch-up's read of the log's head and its read of the records is left
// for the next catch-up, so a log then cut back to that head (and
// written again) is folded as it now is. Folded, it lay past the head the
// rewind check looks at: the cut went unseen, the index kept the cut copy
// and passed by the one written at its seqs. The copies are recorded by
// another server over the database: one this server recorded, cut, is
// refused (TestIndexCutOfUnreadAppendsRefuses).
func TestIndexFoldsNoFurtherThanTheHead(t *testing.T) {
	for _, which := range []string{"summary", "exports"} {
		t.Run(which, func(t *testing.T) {
			ctx := context.Background()
			_, st := sqliteLedger(t)
			led := AuditLedger{Store: otherProcess(t, st)}
			cs := &countingAudit{SQLite: st}
			asks := asksOver(t, cs)
			ask := asks.summary
			if which == "exports" {
				ask = asks.exports
			}
			recordCopy(t, led, 0)
			if _, err := ask(); err != nil {
				t.Fatal(err)
			}
			recordCopy(t, led, 1)
			head, _, err := st.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cs.before = func() { recordCopy(t, led, 2) }
			if _, err := ask(); err != nil {
				t.Fatal(err)
			}
			if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit WHERE seq > ?`, head); err != nil {
				t.Fatal(err)
			}
			recordCopy(t, led, 3)
			fresh, err := summaryOf(t, led, "acme")
			if err != nil || !slices.Equal(fresh, []string{"d0", "d1", "d3"}) {
				t.Fatalf("a fresh fold: %v, %v; want d0, d1, d3", fresh, err)
			}
			got, err := ask()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fresh, got); diff != "" {
				t.Errorf("cut back to the head read before a fold (-fresh +index):\n%s", diff)
			}
		})
	}
}

// TestIndexReadsTheHeadOnce: a catch-up after entries were written reads
// the log's head, and whether the entry that was its head is still there,
// in one query, as does one with nothing new, for each of two tenants: the
// second's view, behind the head the first's catch-up read, is covered by
// it. It read the head, then the hash at the last head's seq: two queries
// on every plan, law check and staging after a write; and then the second
// tenant's catch-up read the hash at its own last head too.
func TestIndexReadsTheHeadOnce(t *testing.T) {
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	x, ex := NewIndex(AuditLedger{Store: cs}), AuditExports(cs)
	type ask struct {
		name, tenant string
		want         []string
		ask          func(tenant string) ([]string, error)
	}
	summary := func(tenant string) ([]string, error) { return summaryOf(t, x, tenant) }
	exports := func(tenant string) ([]string, error) { return exportYear(t, ex, tenant) }
	asks := []ask{
		{"summary", "acme", []string{"d0", "d1"}, summary},
		{"summary", "beta", nil, summary},
		{"exports", "acme", []string{"d0", "d1"}, exports},
		{"exports", "beta", nil, exports},
	}
	recordCopy(t, led, 0)
	for _, a := range asks {
		if _, err := a.ask(a.tenant); err != nil {
			t.Fatal(err)
		}
	}
	for i, what := range []string{"after a new copy", "with nothing new"} {
		if i == 0 {
			recordCopy(t, led, 1)
		}
		for _, a := range asks {
			cs.heads = 0
			if got, err := a.ask(a.tenant); err != nil || !slices.Equal(got, a.want) {
				t.Fatalf("%s of %s %s: %v, %v; want %v", a.name, a.tenant, what, got, err, a.want)
			}
			if cs.heads != 1 {
				t.Errorf("%s of %s %s: %d queries of the log's head, want 1", a.name, a.tenant, what, cs.heads)
			}
		}
	}
}

// headOnly is a store with the log's head and the hash at a seq, each
// read alone, but not both in one read (AuditHeadAt).
type headOnly struct {
	AuditStore
	st *store.SQLite
}

func (h headOnly) AuditHead(ctx context.Context) (int64, string, error) { return h.st.AuditHead(ctx) }

func (h headOnly) AuditHashAt(ctx context.Context, seq int64) (string, bool, error) {
	return h.st.AuditHashAt(ctx, seq)
}

// TestIndexWithoutHeadAtReadsEveryTime: over a store that reads the log's
// head and the hash at a seq apart but not together (AuditHeadAt, which
// alone turns on the watch and its refusal of a cut log), both indexes
// read the log on every catch-up, as before there was a head: a watch
// over two reads would not see the head and the entry at one moment.
func TestIndexWithoutHeadAtReadsEveryTime(t *testing.T) {
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	recordCopy(t, led, 0)
	asks := asksOver(t, headOnly{AuditStore: cs, st: st})
	asks.each(func(name string, ask func() ([]string, error)) {
		cs.selects = 0
		for range 3 {
			if got, err := ask(); err != nil || len(got) != 1 {
				t.Fatalf("%s: %v, %v; want d0", name, got, err)
			}
		}
		if cs.selects != 3 {
			t.Errorf("%s: 3 catch-ups made %d audit selections, want 3", name, cs.selects)
		}
	})
}

// TestIndexPartFoldThenCutIsNotSkipped: a catch-up whose read failed after
// folding part of what it read, then a log cut back to the head read
// before that catch-up, has the next catch-up refused, not served from the
// index as it is. It kept that head: the next catch-up found it
// unchanged, read nothing, and counted an export the log no longer held.
// (Folded afresh, the log cut would leave out what it held before, which
// the index then refused; see TestIndexCutLogRefuses.)
func TestIndexPartFoldThenCutIsNotSkipped(t *testing.T) {
	ctx := context.Background()
	led, st := sqliteLedger(t)
	var bad int64
	x := NewExportIndex(func(ctx context.Context, after int64) ([]Record, error) {
		recs, err := led.records(ctx, store.AuditQuery{Kinds: ledgerKinds, AllTenants: true, After: after})
		for i := range recs {
			if recs[i].Seq == bad {
				recs[i].Payload = json.RawMessage(`"not an entry"`)
			}
		}
		return recs, err
	})
	x.watch = watchOf(st)
	recordCopy(t, led, 0)
	if got, err := exportYear(t, x, "acme"); err != nil || !slices.Equal(got, []string{"d0"}) {
		t.Fatalf("first question: %v, %v; want d0", got, err)
	}
	head, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recordCopy(t, led, 1)
	recordCopy(t, led, 2)
	bad = head + 3 // the second new copy's intent: copy 1 is folded before it
	if got, err := exportYear(t, x, "acme"); err == nil {
		t.Fatalf("a record that does not decode: %v, want an error", got)
	}
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit WHERE seq > ?`, head); err != nil {
		t.Fatal(err)
	}
	bad = 0
	if got, err := exportYear(t, x, "acme"); !errors.Is(err, store.ErrAuditGap) {
		t.Errorf("cut back to the head before the failed catch-up: %v, %v; want refused (ErrAuditGap)", got, err)
	}
}

// TestWatchBehindARacedHighIsChecked: a tenant's view whose raise of the
// index's high found it moved by another tenant's catch-up (which read a
// log cut back and written again after the first read its head) is not
// covered by that high, and its next catch-up checks its own head and
// refuses the rewritten log. Skipping the view's head wherever high was
// past it passed the rewritten log, and the view kept the records of the
// entries cut.
func TestWatchBehindARacedHighIsChecked(t *testing.T) {
	ctx := context.Background()
	log := []string{"g", "a1", "a2"} // hash of the entry at each seq
	var during func()
	head := func(_ context.Context, seq int64) (store.AuditHeadRead, error) {
		r := store.AuditHeadRead{Seq: int64(len(log) - 1), Hash: log[len(log)-1]}
		if seq < int64(len(log)) {
			r.At, r.AtOK = log[seq], true
		}
		if f := during; f != nil {
			during = nil
			f()
		}
		return r, nil
	}
	high := &highHead{}
	a := logWatch{head: head, high: high}
	b := a
	read := func(logHead) error { return nil }
	for _, w := range []*logWatch{&a, &b} {
		if err := w.catchUp(ctx, read); err != nil {
			t.Fatal(err)
		}
	}
	// a reads the head at seq 4; before it checks and raises high, the
	// log is cut back to seq 2 and written again to seq 5, and b catches
	// up over it, raising high to 5.
	log = append(log, "a3", "a4")
	during = func() {
		log = append(log[:3], "b3", "b4", "b5")
		if err := b.catchUp(ctx, read); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.catchUp(ctx, read); err != nil {
		t.Fatal(err)
	}
	if got := high.get(); got.seq != 5 || a.at.seq != 4 {
		t.Fatalf("high %+v, a's head %+v; want 5 and 4", got, a.at)
	}
	if err := a.catchUp(ctx, read); !errors.Is(err, store.ErrAuditRewritten) {
		t.Errorf("a's catch-up over the rewritten log: %v, want %v", err, store.ErrAuditRewritten)
	}
}
