package transfer

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// countingAudit is a store whose audit selections, and the rows they
// return, are counted, with where each started (after), and its reads of
// the log's head and of the hash at a seq (heads: one a query); its head
// fails with headErr when set, and its selections with selectErr. before,
// when set, runs before the next selection (after the head was read),
// once.
type countingAudit struct {
	*store.SQLite
	selects, rows int
	heads         int
	after         []int64
	headErr       error
	selectErr     error
	before        func()
}

func (c *countingAudit) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	if f := c.before; f != nil {
		c.before = nil
		f()
	}
	if c.selectErr != nil {
		c.selects++
		return nil, c.selectErr
	}
	es, err := c.SQLite.AuditSelect(ctx, q)
	c.selects++
	c.after = append(c.after, q.After)
	c.rows += len(es)
	return es, err
}

func (c *countingAudit) AuditHead(ctx context.Context) (int64, string, error) {
	c.heads++
	if c.headErr != nil {
		return 0, "", c.headErr
	}
	return c.SQLite.AuditHead(ctx)
}

func (c *countingAudit) AuditHashAt(ctx context.Context, seq int64) (string, bool, error) {
	c.heads++
	if c.headErr != nil {
		return "", false, c.headErr
	}
	return c.SQLite.AuditHashAt(ctx, seq)
}

func (c *countingAudit) AuditHeadAt(ctx context.Context, seq int64) (store.AuditHeadRead, error) {
	c.heads++
	if c.headErr != nil {
		return store.AuditHeadRead{}, c.headErr
	}
	return c.SQLite.AuditHeadAt(ctx, seq)
}

// exportYear asks x for acme's lab's exports from CN in 2026.
func exportYear(t *testing.T, x *ExportIndex, tenant string) ([]string, error) {
	t.Helper()
	xs, err := x.Exported(context.Background(), tenant, []string{"lab"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31"))
	var names []string
	for _, e := range xs {
		names = append(names, e.Dataset)
	}
	return names, err
}

// TestExportIndexCatchUpNothingNew: a question asked when nothing was
// written to the log since the last makes no audit selection at all (it
// made the store's gap-checked read of the ledger's kinds, which re-read
// and re-hashed a window of old entries each time); a copy recorded after
// it, of the asking tenant's, is still counted, another tenant's is not,
// and an entry of another kind written since has the log read again.
func TestExportIndexCatchUpNothingNew(t *testing.T) {
	ctx := context.Background()
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	x := AuditExports(cs)
	askedAgainReadsNothing(t, led, cs, func(tenant string) ([]string, error) { return exportYear(t, x, tenant) })
	recordCopy(t, led, 3)
	if got, err := exportYear(t, x, "acme"); err != nil || len(got) != 4 {
		t.Fatalf("after a new copy: %v, %v; want d0 to d3", got, err)
	}
	if got, err := exportYear(t, x, "other"); err != nil || len(got) != 0 {
		t.Fatalf("another tenant counts acme's copies: %v, %v", got, err)
	}
	cs.selects = 0
	if err := audit.NewLog(st).AppendFor(ctx, "acme", audit.KindState, "r1", map[string]string{"state": "running"}); err != nil {
		t.Fatal(err)
	}
	if _, err := exportYear(t, x, "acme"); err != nil || cs.selects != 1 {
		t.Fatalf("after an entry of another kind: %v, %d selections, want 1", err, cs.selects)
	}
	if _, err := exportYear(t, x, "acme"); err != nil || cs.selects != 1 {
		t.Fatalf("then nothing new: %v, %d selections, want still 1", err, cs.selects)
	}
}

// askedAgainReadsNothing records acme's copies 0 to 2, asks of acme,
// then asks 3 times more with nothing new: those make no audit selection.
func askedAgainReadsNothing(t *testing.T, led AuditLedger, cs *countingAudit, ask func(tenant string) ([]string, error)) {
	t.Helper()
	for i := range 3 {
		recordCopy(t, led, i)
	}
	if got, err := ask("acme"); err != nil || len(got) != 3 {
		t.Fatalf("first question: %v, %v; want d0 to d2", got, err)
	}
	cs.selects, cs.rows = 0, 0
	for range 3 {
		if got, err := ask("acme"); err != nil || len(got) != 3 {
			t.Fatalf("again: %v, %v", got, err)
		}
	}
	if cs.selects != 0 || cs.rows != 0 {
		t.Fatalf("3 questions with nothing new made %d audit selections of %d rows, want none", cs.selects, cs.rows)
	}
}

// TestExportIndexCatchUpFailsClosed: a head that cannot be read fails
// the question, and so does a ledger entry deleted before it was read
// (the gap-checked read still runs when the log was written to), every
// time it is asked.
func TestExportIndexCatchUpFailsClosed(t *testing.T) {
	catchUpFailsClosed(t, func(cs *countingAudit) func() ([]string, error) {
		x := AuditExports(cs)
		return func() ([]string, error) { return exportYear(t, x, "acme") }
	})
}

// catchUpFailsClosed asks of acme, through an index over a store that
// open builds, after its head became unreadable, and after an entry of
// its ledger was deleted before it was read: each fails.
func catchUpFailsClosed(t *testing.T, open func(cs *countingAudit) func() ([]string, error)) {
	t.Helper()
	ctx := context.Background()
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	recordCopy(t, led, 0)
	ask := open(cs)
	if _, err := ask(); err != nil {
		t.Fatal(err)
	}
	cs.headErr = errors.New("connection lost")
	if _, err := ask(); !errors.Is(err, cs.headErr) {
		t.Fatalf("head unreadable: %v, want it", err)
	}
	cs.headErr = nil
	recordCopy(t, led, 1)
	if err := audit.NewLog(st).AppendFor(ctx, "acme", audit.KindState, "r1", map[string]string{"state": "running"}); err != nil {
		t.Fatal(err)
	}
	seq, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The new copy's intent, two entries before the head.
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit WHERE seq = ?`, seq-2); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := ask(); !errors.Is(err, store.ErrAuditGap) {
			t.Fatalf("intent deleted before it was read: %v, %v; want %v", got, err, store.ErrAuditGap)
		}
	}
}

// exportYearOf is exportYear through any policy.Exports.
func exportYearOf(x policy.Exports, tenant string) ([]string, error) {
	xs, err := x.Exported(context.Background(), tenant, []string{"lab"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31"))
	var names []string
	for _, e := range xs {
		names = append(names, e.Dataset)
	}
	return names, err
}

// TestExportBatchReadsTheHeadOnce: the questions of one batch (a plan's)
// read the log's head once between them, where each read it; a batch
// begun after a copy was recorded counts it.
func TestExportBatchReadsTheHeadOnce(t *testing.T) {
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	x := AuditExports(cs)
	recordCopy(t, led, 0)
	for i, want := range [][]string{{"d0"}, {"d0", "d1"}} {
		if i == 1 {
			recordCopy(t, led, 1)
		}
		cs.heads = 0
		b := x.Batch()
		for range 3 {
			if got, err := exportYearOf(b, "acme"); err != nil || !slices.Equal(got, want) {
				t.Fatalf("batch %d: %v, %v; want %v", i, got, err, want)
			}
		}
		if cs.heads != 1 {
			t.Errorf("batch %d: 3 questions made %d queries of the log's head, want 1", i, cs.heads)
		}
	}
}

// TestExportBatchCatchesUpAfterAFailedFold: a batch's question after
// another's catch-up failed (the index left unsure; here its selection
// fails whole, which leaves it as unsure as one failed part way) reads
// the log again rather than answer from what the failed read left: a
// volume rule judged on part of the exports.
func TestExportBatchCatchesUpAfterAFailedFold(t *testing.T) {
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	x := AuditExports(cs)
	recordCopy(t, led, 0)
	recordCopy(t, led, 1)
	b := x.Batch()
	if got, err := exportYearOf(b, "acme"); err != nil || !slices.Equal(got, []string{"d0", "d1"}) {
		t.Fatalf("first question: %v, %v; want d0, d1", got, err)
	}
	recordCopy(t, led, 2)
	cs.selectErr = errors.New("connection lost")
	if got, err := exportYearOf(x, "acme"); !errors.Is(err, cs.selectErr) {
		t.Fatalf("another question, its read failing: %v, %v; want %v", got, err, cs.selectErr)
	}
	cs.selectErr = nil
	got, err := exportYearOf(b, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"d0", "d1", "d2"}, got); diff != "" {
		t.Errorf("the batch's next question (-want +got):\n%s", diff)
	}
}

// TestExportBatchRefusesALogCutUnderIt: a batch's question after the log
// was cut back and written again up to the same seq (found by another
// question) is refused too, not answered from what the batch read
// before the cut.
func TestExportBatchRefusesALogCutUnderIt(t *testing.T) {
	ctx := context.Background()
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	x := AuditExports(cs)
	recordCopy(t, led, 0)
	recordCopy(t, led, 1)
	b := x.Batch()
	if got, err := exportYearOf(b, "acme"); err != nil || !slices.Equal(got, []string{"d0", "d1"}) {
		t.Fatalf("first question: %v, %v; want d0, d1", got, err)
	}
	head, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Copy 1's two entries cut, copy 2's written in their place.
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM audit WHERE seq > ?`, head-2); err != nil {
		t.Fatal(err)
	}
	recordCopy(t, led, 2)
	if got, err := exportYearOf(x, "acme"); !errors.Is(err, store.ErrAuditGap) {
		t.Fatalf("another question over the cut log: %v, %v; want %v", got, err, store.ErrAuditGap)
	}
	if got, err := exportYearOf(b, "acme"); !errors.Is(err, store.ErrAuditGap) {
		t.Errorf("the batch's next question over the cut log: %v, %v; want %v", got, err, store.ErrAuditGap)
	}
}
