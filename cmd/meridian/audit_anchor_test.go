package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
)

// TestAuditCLIDoesNotReanchorKeyedLog: the CLI's appends (the transfer
// ledger, screening decisions) extend the anchor in STATE/anchor. Once a
// server recorded the anchor key in the log, a CLI append after anchor.json
// was removed must not write a new first anchor over the log as it is now:
// that would bless a tail cut meanwhile.
func TestAuditCLIDoesNotReanchorKeyedLog(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	appendCLI := func(n int) {
		t.Helper()
		d, err := st.auditStore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := audit.NewLog(d).Append(ctx, KindScreeningDecision, "", map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	verify := func() audit.Result {
		t.Helper()
		res, err := verifyOffline(ctx, st.Path, "")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// A state directory only the CLI used is anchored as before.
	appendCLI(2)
	if res := verify(); !res.OK || res.Anchored == nil || res.Anchored.Seq != 2 || res.AnchorKeySeq != 0 {
		t.Fatalf("CLI-only log: %+v", res)
	}
	// A server starts on it: the key is recorded, and the CLI goes on.
	d, err := st.auditStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAuditAtStart(ctx, d.SQLite, d.anchors, false, io.Discard); err != nil {
		t.Fatal(err)
	}
	d.Close()
	appendCLI(4)
	res := verify()
	if !res.OK || res.AnchorKeySeq != 3 || res.Anchored == nil || res.Anchored.Seq != 7 {
		t.Fatalf("after a server start and CLI appends: %+v", res)
	}
	// The tail is cut and anchor.json removed; then the CLI appends.
	d, err = st.auditStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB().Exec(`DELETE FROM audit WHERE seq > 4`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := os.Remove(filepath.Join(st.Anchor(), audit.AnchorFile)); err != nil {
		t.Fatal(err)
	}
	appendCLI(1)
	if _, err := os.Stat(filepath.Join(st.Anchor(), audit.AnchorFile)); !os.IsNotExist(err) {
		t.Fatalf("the CLI wrote a new anchor over a log that names its key: %v", err)
	}
	if res := verify(); res.OK || res.Problem == nil || res.Problem.Kind != audit.AnchorMissing || res.Problem.Seq != 3 {
		t.Fatalf("cut log after a CLI append: %+v", res)
	}
}
