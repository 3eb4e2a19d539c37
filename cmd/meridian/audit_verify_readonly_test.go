package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
)

// verifyState runs `audit verify --state dir` and checks that it left
// every file under dir as it found it (names, sizes, modes, contents,
// modification times), returning what it printed and its error.
func verifyState(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	before := snapshotTree(t, dir)
	out, err := runCLI(t, append([]string{"audit", "verify", "--state", dir}, args...)...)
	after := snapshotTree(t, dir)
	for p, v := range after {
		if w, ok := before[p]; !ok {
			t.Errorf("audit verify --state created %s", p)
		} else if w != v {
			t.Errorf("audit verify --state changed %s: %s, was %s", p, v, w)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("audit verify --state removed %s", p)
		}
	}
	return out, err
}

// cliState is a state directory only the CLI has used: n entries appended
// through the CLI's audit store, which anchors the log and records the key
// (entry 1).
func cliState(t *testing.T, n int) state {
	t.Helper()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	appendViaCLI(t, st, n)
	return st
}

// appendViaCLI appends n entries to st's log through the CLI's audit store
// (which anchors the log as a command does).
func appendViaCLI(t *testing.T, st state, n int) {
	t.Helper()
	ctx := context.Background()
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

// execState runs one statement on the state directory's database, as an
// attacker with write access to it would.
func execState(t *testing.T, st state, q string) {
	t.Helper()
	db := openStateDB(t, st)
	defer db.Close()
	if _, err := db.DB().Exec(q); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyStateWritesNothing: verifying a state directory only
// looks. It used to open the store for writing: it created audit.key when
// there was none (a new key, under which the log's entries no longer
// verify at the next server start), and the anchor directory with a new
// anchor.key, and migrated the database. Now every file is left byte for
// byte as it was, and the verdicts stand: an intact log intact, a cut
// tail caught, a log never anchored or without its key NOT PROVEN.
func TestAuditVerifyStateWritesNothing(t *testing.T) {
	t.Run("used by the CLI", func(t *testing.T) {
		st := cliState(t, 5)
		out, err := verifyState(t, st.Path)
		if err != nil || !strings.Contains(out, "audit log intact: 6 entries") {
			t.Fatalf("verify: %v\n%s", err, out)
		}
		execState(t, st, `DELETE FROM audit WHERE seq > 3`)
		out, err = verifyState(t, st.Path)
		if !isCode(err, exitError) || !strings.Contains(out, "BROKEN at entry 4 (truncated)") {
			t.Fatalf("verify of the cut log: %v\n%s", err, out)
		}
	})

	t.Run("never anchored", func(t *testing.T) {
		st := state{Dir: statedir.Dir{Path: t.TempDir()}}
		db := openStateDB(t, st)
		appendUnanchored(t, db, 3)
		db.Close()
		out, err := verifyState(t, st.Path)
		if !isCode(err, exitError) || !strings.Contains(out, "NOT PROVEN: 3 entries chain correctly") || !strings.Contains(out, "records no anchor key") {
			t.Fatalf("verify of a log never anchored: %v\n%s", err, out)
		}
		if _, err := os.Stat(st.Anchor()); !os.IsNotExist(err) {
			t.Fatalf("the anchor directory: %v", err)
		}
		// Its middle edited: still caught with the key, anchor or none.
		execState(t, st, `UPDATE audit SET payload = '{"i":7}' WHERE seq = 2`)
		out, err = verifyState(t, st.Path)
		if !isCode(err, exitError) || !strings.Contains(out, "BROKEN at entry 2 (modified)") {
			t.Fatalf("verify of an edited log never anchored: %v\n%s", err, out)
		}
	})

	t.Run("without audit.key", func(t *testing.T) {
		st := cliState(t, 5)
		keyFile := filepath.Join(st.Path, audit.KeyFile)
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		out, err := verifyState(t, st.Path)
		if !isCode(err, exitError) || !strings.Contains(out, "NOT PROVEN: 6 entries in order and linked") || !strings.Contains(out, "audit key (audit.key) is missing") || strings.Contains(out, "audit log intact") {
			t.Fatalf("verify without the key: %v\n%s", err, out)
		}
		if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
			t.Fatalf("verify created %s: %v", audit.KeyFile, err)
		}
		out, err = verifyState(t, st.Path, "-o", "json")
		if !isCode(err, exitError) || !strings.Contains(out, `"unkeyed": true`) || !strings.Contains(out, `"unproven"`) {
			t.Fatalf("verify -o json without the key: %v\n%s", err, out)
		}
		// What needs no key is still checked: the anchor catches a cut
		// tail, the links a deleted entry.
		execState(t, st, `DELETE FROM audit WHERE seq > 4`)
		os.Remove(keyFile) // execState's store needs a key; it made a new one
		out, err = verifyState(t, st.Path)
		if !isCode(err, exitError) || !strings.Contains(out, "BROKEN at entry 5 (truncated)") {
			t.Fatalf("verify of a cut log without the key: %v\n%s", err, out)
		}
		execState(t, st, `DELETE FROM audit WHERE seq = 2`)
		os.Remove(keyFile)
		out, err = verifyState(t, st.Path)
		if !isCode(err, exitError) || !strings.Contains(out, "BROKEN at entry 2 (deleted)") {
			t.Fatalf("verify of a log missing entry 2, without the key: %v\n%s", err, out)
		}
	})

	t.Run("anchor key missing", func(t *testing.T) {
		// anchor.json kept, anchor.key gone: verify used to make a new
		// anchor.key, which the next server start then found did not sign
		// the anchor. Now it says the anchor cannot be checked.
		st := cliState(t, 2)
		if err := os.Remove(filepath.Join(st.Anchor(), audit.AnchorKeyFile)); err != nil {
			t.Fatal(err)
		}
		out, err := verifyState(t, st.Path)
		if err == nil || !strings.Contains(err.Error(), "no "+audit.AnchorKeyFile) {
			t.Fatalf("verify without anchor.key: %v\n%s", err, out)
		}
	})
}

// TestAuditVerifyStateSharedStore: the servers of a state directory marked
// statedir.SharedStore keep their audit log in PostgreSQL; the directory's
// own database holds only what CLI commands wrote there. audit verify
// --state read that one and printed "audit log intact", exit 0, whatever
// had been done to the servers' log. It now refuses, naming where their
// log is and how to verify it.
func TestAuditVerifyStateSharedStore(t *testing.T) {
	st := cliState(t, 3)
	if out, err := verifyState(t, st.Path); err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("the CLI's own log: %v\n%s", err, out)
	}
	if err := os.WriteFile(st.Join(statedir.SharedStore), []byte("postgres\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := verifyState(t, st.Path)
	if err == nil || strings.Contains(out, "intact") {
		t.Fatalf("a directory whose servers log in PostgreSQL verified from its own database: %v\n%s", err, out)
	}
	if !strings.Contains(err.Error(), "PostgreSQL") || !strings.Contains(err.Error(), "meridian audit verify") {
		t.Errorf("the refusal does not say where the log is and how to verify it: %v", err)
	}
}
