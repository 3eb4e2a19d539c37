package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Two processes append to one ledger file, and the file ends in part of a
// line a killed third left. The first measures where that fragment begins;
// were the second to append meanwhile, the first's cut would take the
// second's acknowledged record with the fragment. Two FileLedger values on
// one file stand for the two processes: they share no mutex, only the file.
func TestFileLedgerTwoWritersKeepBothRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	a, b := &FileLedger{Path: path}, &FileLedger{Path: path}
	if err := a.Append(ctx, "acme", KindIntent, "r1", Intent{ID: "first"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-01-15T00:00:00Z","kind":"transfer-intent","tenant":"acme","payl`)
	f.Close()

	// While a is about to cut, b tries to append. It may not get in (the
	// file is a's until its record is down): then it appends once a is done.
	var bErr error
	bTried := false
	beforeTornCut = func() {
		if bTried {
			return
		}
		bTried = true
		try, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		bErr = b.Append(try, "acme", KindIntent, "r1", Intent{ID: "from-b"})
	}
	defer func() { beforeTornCut = nil }()
	if err := a.Append(ctx, "acme", KindIntent, "r1", Intent{ID: "from-a"}); err != nil {
		t.Fatal(err)
	}
	if !bTried {
		t.Fatal("the torn tail was not cut")
	}
	if bErr != nil {
		if err := b.Append(ctx, "acme", KindIntent, "r1", Intent{ID: "from-b"}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := b.Records(ctx, "acme", KindIntent)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs {
		var in Intent
		if err := r.decode(&in); err != nil {
			t.Fatal(err)
		}
		got[in.ID] = true
	}
	for _, id := range []string{"first", "from-a", "from-b"} {
		if !got[id] {
			t.Errorf("record %q lost; the ledger holds %d records: %v", id, len(recs), got)
		}
	}
}
