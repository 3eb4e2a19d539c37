package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A process killed while appending leaves part of a line at the end of a
// FileLedger. That record was never acknowledged (Append had not returned),
// so the ledger must still read, and the next record must not be glued
// onto the fragment.
func TestFileLedgerTornTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	l := &FileLedger{Path: path}
	if err := l.Append(ctx, "acme", KindIntent, "r1", Intent{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-01-15T00:00:00Z","kind":"transfer","tenant":"acme","payl`)
	f.Close()
	recs, err := l.Records(ctx, "acme", KindIntent, KindTransfer)
	if err != nil {
		t.Fatalf("ledger with a torn last line does not read: %v", err)
	}
	if len(recs) != 1 {
		t.Fatalf("read %d records, want the one acknowledged", len(recs))
	}
	if err := l.Append(ctx, "acme", KindTransfer, "r1", Entry{Intent: "a", BytesSent: 7}); err != nil {
		t.Fatal(err)
	}
	recs, err = l.Records(ctx, "acme", KindIntent, KindTransfer)
	if err != nil {
		t.Fatalf("ledger after appending past a torn line: %v", err)
	}
	if len(recs) != 2 || recs[1].Kind != KindTransfer {
		t.Fatalf("read %+v, want the intent and then its confirmation", recs)
	}
}
