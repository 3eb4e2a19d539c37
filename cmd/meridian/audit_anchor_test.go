package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// TestAuditCLIDoesNotReanchorKeyedLog: the CLI's appends (the transfer
// ledger, screening decisions) extend the anchor in STATE/anchor. Once a
// server recorded the anchor key in the log, a CLI append after anchor.json
// was removed must not write a new first anchor over the log as it is now:
// that would bless a tail cut meanwhile.
func TestAuditCLIDoesNotReanchorKeyedLog(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	verify := func() audit.Result {
		t.Helper()
		res, err := verifyOffline(ctx, st.Path, "")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// A state directory only the CLI used is anchored, and its log names
	// the key (entry 1), as a server's start would have it.
	appendViaCLI(t, st, 2)
	if res := verify(); !res.OK || res.Anchored == nil || res.Anchored.Seq != 3 || res.AnchorKeySeq != 1 {
		t.Fatalf("CLI-only log: %+v", res)
	}
	// A server starts on it: the key is recorded already, and the CLI goes on.
	d, err := st.auditStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAuditAtStart(ctx, d.SQLite, d.anchors, auditAccept{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	d.Close()
	appendViaCLI(t, st, 4)
	res := verify()
	if !res.OK || res.AnchorKeySeq != 1 || res.Anchored == nil || res.Anchored.Seq != 7 {
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
	appendViaCLI(t, st, 1)
	if _, err := os.Stat(filepath.Join(st.Anchor(), audit.AnchorFile)); !os.IsNotExist(err) {
		t.Fatalf("the CLI wrote a new anchor over a log that names its key: %v", err)
	}
	if res := verify(); res.OK || res.Problem == nil || res.Problem.Kind != audit.AnchorMissing || res.Problem.Seq != 1 {
		t.Fatalf("cut log after a CLI append: %+v", res)
	}
}

// TestAuditCLIOnlyStateRecordsAnchorKey: a state directory only the CLI
// has used (no server ever started there) is anchored as a server's start
// anchors one: the log records the anchor key, so cutting its tail and
// removing anchor.json (or the whole anchor directory) fails verification
// instead of reading as a log never anchored.
func TestAuditCLIOnlyStateRecordsAnchorKey(t *testing.T) {
	ctx := context.Background()
	for _, removed := range []string{audit.AnchorFile, ""} {
		st := state{Dir: statedir.Dir{Path: t.TempDir()}}
		d, err := st.auditStore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if err := audit.NewLog(d).Append(ctx, KindScreeningDecision, "", map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		d.Close()
		res, err := verifyOffline(ctx, st.Path, "")
		if err != nil || !res.OK || res.AnchorKeySeq == 0 || res.Anchored == nil || res.Anchored.Seq != res.Entries {
			t.Fatalf("CLI-only log: %+v %v", res, err)
		}
		keySeq := res.AnchorKeySeq
		// The attack: the tail cut, the anchor removed, no key needed.
		d, err = st.auditStore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.DB().Exec(`DELETE FROM audit WHERE seq > ?`, res.Entries-2); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if err := os.RemoveAll(filepath.Join(st.Anchor(), removed)); err != nil {
			t.Fatal(err)
		}
		res, err = verifyOffline(ctx, st.Path, "")
		if err != nil || res.OK || res.Problem == nil || res.Problem.Kind != audit.AnchorMissing || res.Problem.Seq != keySeq {
			t.Fatalf("CLI-only log cut with anchor/%s removed: %+v %v", removed, res, err)
		}
	}
}

// TestAuditCLIRecordsKeyOfOlderCLIAnchor: a state directory an older CLI
// anchored without recording the key gets the key entry at the next CLI
// command, after its log verified against that anchor.
func TestAuditCLIRecordsKeyOfOlderCLIAnchor(t *testing.T) {
	ctx := context.Background()
	st, _ := olderCLIAnchored(t)
	d, err := st.auditStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	res, err := verifyOffline(ctx, st.Path, "")
	if err != nil || !res.OK || res.AnchorKeySeq != 4 || res.Anchored == nil || res.Anchored.Seq != 4 {
		t.Fatalf("after a CLI command on a log an older CLI anchored: %+v %v", res, err)
	}
}

// TestServeAnchorElsewhereAfterCLI: the log of a state directory the CLI
// used names the key in STATE/anchor. A server started on it with
// --audit-anchor elsewhere finds no anchor there and refuses, saying where
// the anchor is; moved there, key included, it serves.
func TestServeAnchorElsewhereAfterCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	st := state{Dir: statedir.Dir{Path: filepath.Join(dir, "state")}}
	d, err := st.auditStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.NewLog(d).Append(ctx, KindScreeningDecision, "", map[string]int{"i": 1}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	elsewhere := filepath.Join(dir, "anchor-elsewhere")
	opts := serverOptions{StateDir: st.Path, AnchorDir: elsewhere, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard}
	if s, err := startServer(opts); err == nil {
		s.Close()
		t.Fatal("a server started with its anchor where the log's is not")
	} else if !strings.Contains(err.Error(), audit.AnchorMissing) || !strings.Contains(err.Error(), "move that directory, key included, to "+elsewhere) {
		t.Fatalf("start with the anchor elsewhere: %v", err)
	}
	if err := os.RemoveAll(elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(st.Anchor(), elsewhere); err != nil {
		t.Fatal(err)
	}
	s, err := startServer(opts)
	if err != nil {
		t.Fatalf("start with the anchor moved: %v", err)
	}
	s.Close()
	res, err := verifyOffline(ctx, st.Path, elsewhere)
	if err != nil || !res.OK || res.AnchorKeySeq != 1 || res.Anchored == nil {
		t.Fatalf("verify against the moved anchor: %+v %v", res, err)
	}
}

// TestAuditVerifyCutBeforeKeyFails: a log cut back to before its first
// audit-anchored entry, with the anchor directory removed, is an intact
// chain that names no key, as a log from before anchoring is. audit verify
// used to print "intact" and exit 0 for it; it now exits 1 and says that
// it cannot show whether entries were cut, and a server start over it
// warns before anchoring it.
func TestAuditVerifyCutBeforeKeyFails(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	// Entries from before anchoring (an older version's), then the CLI
	// anchors the log and records the key as entry 4.
	db := openStateDB(t, st)
	appendUnanchored(t, db, 3)
	db.Close()
	d, err := st.auditStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := audit.NewLog(d).Append(ctx, KindScreeningDecision, "", map[string]int{"j": i}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if out, err := runCLI(t, "audit", "verify", "--state", st.Path); err != nil || !strings.Contains(out, "audit log intact: 6 entries") {
		t.Fatalf("verify before the attack: %v\n%s", err, out)
	}
	// The attack: back to entry 3, anchor directory gone. No key needed.
	execState(t, st, `DELETE FROM audit WHERE seq > 3`)
	if err := os.RemoveAll(st.Anchor()); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "audit", "verify", "--state", st.Path)
	if !isCode(err, exitError) || !strings.Contains(out, "NOT PROVEN: 3 entries") || !strings.Contains(out, "cannot be shown") || strings.Contains(out, "intact") {
		t.Fatalf("verify of a log cut before its key entry, anchor removed: %v\n%s", err, out)
	}
	out, err = runCLI(t, "audit", "verify", "--state", st.Path, "-o", "json")
	if !isCode(err, exitError) || !strings.Contains(out, `"unproven"`) {
		t.Fatalf("verify -o json of the cut log: %v\n%s", err, out)
	}
	// A server start over it warns, then anchors it.
	db = openStateDB(t, st)
	defer db.Close()
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	var w strings.Builder
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, &w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.String(), "warning: audit log of 3 entries records no anchor key") {
		t.Fatalf("start over the cut log said: %q", w.String())
	}
}

// openStateDB opens the state directory's database with its audit key (made
// when missing), as a server does; the caller closes it.
func openStateDB(t testing.TB, st state) *store.SQLite {
	t.Helper()
	return openStateDBWith(t, st, store.Options{})
}

// openCLIStateDB opens it as a CLI command does (auditStore): its gap
// checks are the server's, the first reading every entry once.
func openCLIStateDB(t testing.TB, st state) *store.SQLite {
	t.Helper()
	return openStateDBWith(t, st, store.Options{})
}

func openStateDBWith(t testing.TB, st state, opts store.Options) *store.SQLite {
	t.Helper()
	key, err := audit.LoadKey(st.Path)
	if err != nil {
		t.Fatal(err)
	}
	opts.AuditKey = key
	db, err := store.OpenSQLite(context.Background(), st.Database(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// olderCLIAnchored is a state directory with three entries, anchored as
// an older CLI did, without an entry naming the key, and its anchors.
func olderCLIAnchored(t *testing.T) (state, *audit.Anchors) {
	t.Helper()
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	appendUnanchored(t, db, 3)
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	seq, head, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := anchors.Advance(ctx, seq, head, anchorLog(db), nowUTC()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return st, anchors
}

// appendUnanchored appends n entries to db's log as a version from before
// anchoring left them: no anchor and no key entry.
func appendUnanchored(t testing.TB, db *store.SQLite, n int) {
	t.Helper()
	recs := make([]audit.Record, n)
	for i := range recs {
		var err error
		if recs[i], err = audit.NewRecord(KindScreeningDecision, "", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendAudit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

// TestAuditCLIWarnsWhenItAnchorsUnkeyedLog: a CLI command that anchors a
// log with entries that names no anchor key says so, as a server's start
// does: an upgrade's first command, or a log cut back to before it was
// first anchored with its anchor removed, which only the operator can tell
// apart. It anchored such a log without a word.
func TestAuditCLIWarnsWhenItAnchorsUnkeyedLog(t *testing.T) {
	bin := binary(t)
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	appendUnanchored(t, db, 5)
	db.Close()
	cmd := exec.Command(bin, "dataset", "ledger")
	cmd.Env = append(os.Environ(), "MERIDIAN_HOME="+st.Path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dataset ledger: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "audit log of 5 entries records no anchor key") {
		t.Errorf("no warning when the CLI anchored a log that named no key:\n%s", out)
	}
	out, err = exec.Command(bin, "audit", "verify", "--state", st.Path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "intact") {
		t.Errorf("verify after: %v\n%s", err, out)
	}
}
