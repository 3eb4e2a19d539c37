package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// ledgerState is a state directory (MERIDIAN_HOME) whose log, written by
// the CLI, holds n transfer records of dataset logs, each confirming
// 100 bytes, between entries of another kind, and others entries after.
func ledgerState(t testing.TB, n, others int) state {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	st := state{Dir: statedir.Dir{Path: home}}
	d, err := st.auditStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	add := func(kind string, v any) {
		r, err := audit.NewRecord(kind, "", v)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for i := range n {
		add(KindScreeningDecision, map[string]int{"i": i})
		add(transfer.KindTransfer, transfer.Entry{Kind: transfer.KindDataset, Dataset: "logs", Site: "test-site", From: "CN", To: "MY",
			AsOf: "2026-01-15", Chunks: n, ChunksSent: 1, Bytes: 100 * int64(n), BytesSent: 100})
	}
	for i := range others {
		add(KindScreeningDecision, map[string]int{"after": i})
	}
	for len(recs) > 0 {
		k := min(len(recs), 1000)
		if err := d.AppendAudit(ctx, recs[:k]...); err != nil {
			t.Fatal(err)
		}
		recs = recs[k:]
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCLIRefusesLogRewrittenInTheMiddle: a CLI command's gap check
// counted the entries and checked the last one's seal, so a transfer
// record of the ledger whose kind was rewritten in place (its seal kept,
// no entry missing) left the count whole, and `dataset ledger` listed
// and summed the ledger without it, saying nothing. The CLI's check is
// the server's now: the command refuses, naming the entry, and so do the
// key records' reads (the key witness's) of the same log.
func TestCLIRefusesLogRewrittenInTheMiddle(t *testing.T) {
	st := ledgerState(t, 3, 5)
	out, err := runCLI(t, "dataset", "ledger", "--no-reconcile", "--totals", "-o", "json")
	if err != nil || !strings.Contains(out, `"bytesConfirmed": 300`) {
		t.Fatalf("ledger of the intact log: %v\n%s", err, out)
	}
	// Entry 5 is the second transfer record (entry 1 is the key entry
	// the CLI's first command wrote). Rewritten through a handle of
	// its own, as whoever writes the database would.
	execState(t, st, fmt.Sprintf(`UPDATE audit SET kind = '%s' WHERE seq = 5 AND kind = '%s'`, KindScreeningDecision, transfer.KindTransfer))
	out, err = runCLI(t, "dataset", "ledger", "--no-reconcile", "--totals", "-o", "json")
	if err == nil || !errors.Is(err, store.ErrAuditRewritten) || !strings.Contains(err.Error(), "audit log entry 5 ") {
		t.Fatalf("ledger of a log whose entry 5 was rewritten: %v\n%s", err, out)
	}
	// The read of key records (dataset.KeyWitness) on the CLI's store.
	d, err := st.auditStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.keyWitness().Log.AuditSelect(context.Background(), store.AuditQuery{AllTenants: true, Kinds: []string{dataset.KeyRecordKind}})
	if !errors.Is(err, store.ErrAuditRewritten) || !strings.Contains(err.Error(), "audit log entry 5 ") {
		t.Fatalf("key records of the rewritten log: %v", err)
	}
}

// BenchmarkCLILedgerLongLog: `dataset ledger` on a log of 100,000 entries
// (100 transfer records among them), a command whose gap checks are the
// server's: the first reads every entry once.
func BenchmarkCLILedgerLongLog(b *testing.B) {
	ledgerState(b, 100, 100000-1-200)
	for b.Loop() {
		root := newRootCmd()
		var out, errOut strings.Builder
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs([]string{"dataset", "ledger", "--no-reconcile", "--totals", "-o", "json"})
		if err := root.Execute(); err != nil || !strings.Contains(out.String(), `"bytesConfirmed": 10000`) {
			b.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
		}
	}
}

// TestKeyPrintedOnlyFromAWholeLog: a dataset's key printed or sent
// (`dataset key NAME`, `send-key`) is confirmed against the latest record
// of it in the state directory's log, read by a reader that runs no gap
// check: with an entry of the log rewritten (its seal kept) or a record
// deleted, the key was printed all the same. The log is now verified
// whole, against its anchor, before a key is taken from it.
func TestKeyPrintedOnlyFromAWholeLog(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	st := state{Dir: statedir.Dir{Path: home}}
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte(strings.Repeat("line\n", 100)), 0o644)
	if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "dataset", "add", "more", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "dataset", "key", "logs", "--plain")
	if err != nil || !strings.Contains(out, "meridian-dataset-key-v1:") {
		t.Fatalf("the key of an intact log: %v\n%s", err, out)
	}
	// The first key record (logs') rewritten as another kind, through a
	// handle of its own: the latest record of logs is gone from reads
	// by kind, the log's entries all there.
	execState(t, st, fmt.Sprintf(`UPDATE audit SET kind = '%s' WHERE seq = (SELECT MIN(seq) FROM audit WHERE kind = '%s')`, KindScreeningDecision, dataset.KeyRecordKind))
	out, err = runCLI(t, "dataset", "key", "more", "--plain")
	if err == nil || !strings.Contains(err.Error(), "cannot be trusted") {
		t.Fatalf("the key of another dataset, from a log with a record rewritten: %v\n%s", err, out)
	}
}
