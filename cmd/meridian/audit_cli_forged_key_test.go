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

// TestCLIAnchorIgnoresUnsealedKeyEntries: the CLI does not verify a log
// that names an anchor key, so it must take the key only from entries
// sealed under the audit key. A row written into the database naming a
// key made it follow a log it never verified (and never record the key),
// or stay silent about a removed anchor.
func TestCLIAnchorIgnoresUnsealedKeyEntries(t *testing.T) {
	ctx := context.Background()
	forge := func(t *testing.T, st state, seq int64, key string) {
		t.Helper()
		db := openStateDB(t, st)
		defer db.Close()
		_, head, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DB().Exec(`INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version) VALUES (?, '2026-01-01T00:00:00.000000000Z', ?, '', ?, ?, ?, '', 2)`,
			seq, audit.KindAnchored, `{"key":"`+key+`"}`, head, strings.Repeat("ab", 32)); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(t *testing.T, st state) (bool, string) {
		t.Helper()
		key, err := audit.LoadKey(st.Path)
		if err != nil {
			t.Fatal(err)
		}
		anchors, err := audit.OpenAnchors(st.Anchor())
		if err != nil {
			t.Fatal(err)
		}
		db := openCLIStateDB(t, st)
		defer db.Close()
		var w strings.Builder
		follow, err := cliAnchor(ctx, db, audit.NewChain(key), anchors, &w)
		if err != nil {
			t.Fatal(err)
		}
		return follow, w.String()
	}

	t.Run("names the anchor's key", func(t *testing.T) {
		// A log an older CLI anchored without naming the key; a forged
		// row names the key in use. Last in the log, it is not sealed
		// at its seq: the read of the key entries fails
		// (store.ErrAuditGap), and the CLI says the log does not verify.
		st, anchors := olderCLIAnchored(t)
		forge(t, st, 4, anchors.Key())
		follow, warned := cli(t, st)
		if follow || !strings.Contains(warned, "audit log does not verify") || !strings.Contains(warned, "entry 4") {
			t.Fatalf("CLI over a log whose only key entry is forged: follows %v, warned %q", follow, warned)
		}
	})

	t.Run("names another key", func(t *testing.T) {
		// A log whose sealed entry 1 names the key; the anchor removed and
		// a forged row naming another key appended, a sealed entry after
		// it.
		st := state{Dir: statedir.Dir{Path: t.TempDir()}}
		appendViaCLI(t, st, 2)
		if err := os.Remove(filepath.Join(st.Anchor(), audit.AnchorFile)); err != nil {
			t.Fatal(err)
		}
		forge(t, st, 4, strings.Repeat("cd", 32))
		func() {
			db := openStateDB(t, st)
			defer db.Close()
			sealAfter(t, db)
		}()
		// The CLI's gap check reads every entry: the forged row in the
		// middle of the log is found, and the log does not verify.
		follow, warned := cli(t, st)
		if follow || !strings.Contains(warned, "audit log does not verify") || !strings.Contains(warned, "entry 4") {
			t.Fatalf("CLI over a keyed log, anchor removed, forged key entry: follows %v, warned %q", follow, warned)
		}
	})
}
