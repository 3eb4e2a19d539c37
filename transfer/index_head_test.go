package transfer

import (
	"context"
	"slices"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// summaryOf is tenant's staging summary through l, as datasets.
func summaryOf(t *testing.T, l Ledger, tenant string) ([]string, error) {
	t.Helper()
	sums, err := Summarize(context.Background(), l, tenant)
	var names []string
	for _, s := range sums {
		names = append(names, s.Dataset)
	}
	return names, err
}

// appendState writes an entry of another kind than the ledger's, for
// tenant.
func appendState(t *testing.T, st *store.SQLite, tenant string) {
	t.Helper()
	if err := audit.NewLog(st).AppendFor(context.Background(), tenant, audit.KindState, "r1", map[string]string{"state": "running"}); err != nil {
		t.Fatal(err)
	}
}

// TestIndexCatchUpNothingNew: a tenant's summary read when nothing was
// written to the log since the last makes no audit selection at all (it
// made the store's gap-checked read of the ledger's kinds, which re-read
// a window of old entries each time); a copy recorded after it is still
// counted, another tenant's record is not shown, and is shown to that
// tenant.
func TestIndexCatchUpNothingNew(t *testing.T) {
	ctx := context.Background()
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	x := NewIndex(AuditLedger{Store: cs})
	askedAgainReadsNothing(t, led, cs, func(tenant string) ([]string, error) { return summaryOf(t, x, tenant) })
	recordCopy(t, led, 3)
	if got, err := summaryOf(t, x, "acme"); err != nil || !slices.Equal(got, []string{"d0", "d1", "d2", "d3"}) {
		t.Fatalf("after a new copy: %v, %v; want d0 to d3", got, err)
	}
	if err := led.Append(ctx, "late", KindTransfer, "", Entry{Kind: KindDataset, Dataset: "late-d", Site: "s1", ChunksSent: 1, BytesSent: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := summaryOf(t, x, "acme"); err != nil || !slices.Equal(got, []string{"d0", "d1", "d2", "d3"}) {
		t.Fatalf("after another tenant's record: %v, %v; want d0 to d3", got, err)
	}
	if got, err := summaryOf(t, x, "late"); err != nil || !slices.Equal(got, []string{"late-d"}) {
		t.Fatalf("the other tenant's: %v, %v; want late-d", got, err)
	}
}

// TestIndexReadsAfterTheHead: a tenant's read after other tenants wrote
// starts at the log's head as read before its last read, not at its own
// last record: the store's gap check counted every entry from there to
// the log's end on each read, however many other tenants wrote. A record
// of its own written among them is still read.
func TestIndexReadsAfterTheHead(t *testing.T) {
	ctx := context.Background()
	led, st := sqliteLedger(t)
	cs := &countingAudit{SQLite: st}
	x := NewIndex(AuditLedger{Store: cs})
	recordCopy(t, led, 0)
	for range 5 {
		appendState(t, st, "late")
	}
	if _, err := summaryOf(t, x, "acme"); err != nil {
		t.Fatal(err)
	}
	head, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appendState(t, st, "late")
	if got, err := summaryOf(t, x, "acme"); err != nil || len(got) != 1 {
		t.Fatalf("after another tenant's entry: %v, %v", got, err)
	}
	if last := cs.after[len(cs.after)-1]; last != head {
		t.Fatalf("the read after another tenant's entry started after %d, want the head read before, %d", last, head)
	}
	appendState(t, st, "late")
	recordCopy(t, led, 1)
	appendState(t, st, "late")
	if got, err := summaryOf(t, x, "acme"); err != nil || !slices.Equal(got, []string{"d0", "d1"}) {
		t.Fatalf("a copy written among another tenant's entries: %v, %v; want d0, d1", got, err)
	}
}

// TestIndexCatchUpFailsClosed: a head that cannot be read fails the
// summary, and so does a ledger entry deleted before it was read (the
// gap-checked read still runs when the log was written to), every time.
func TestIndexCatchUpFailsClosed(t *testing.T) {
	catchUpFailsClosed(t, func(cs *countingAudit) func() ([]string, error) {
		x := NewIndex(AuditLedger{Store: cs})
		return func() ([]string, error) { return summaryOf(t, x, "acme") }
	})
}
