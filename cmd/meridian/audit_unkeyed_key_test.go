package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
)

// TestUnkeyedLogKeepsNoFoundKey: a log that names no anchor key (an
// upgrade's first start, or a log emptied or cut back to before its first
// key entry) verifies without an acceptance, and its first anchoring
// recorded whatever key the anchor directory held: one planted there by
// whoever can write the state directory, with or without an anchor of
// its own, became the log's, and its holder signed every later anchor (a
// tail cut from then on, re-anchored, read intact). A start or a CLI
// command anchoring such a log keeps a key only when it made it: a key it
// found gets replaced by a fresh one, kept aside, as an acceptance does.
func TestUnkeyedLogKeepsNoFoundKey(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		entries int
		anchor  bool
		cli     bool
	}{
		{"upgraded log, planted key", 5, false, false},
		{"upgraded log, planted key and anchor", 5, true, false},
		{"emptied log, planted key", 0, false, false},
		{"CLI, upgraded log, planted key", 5, false, true},
		{"CLI, upgraded log, planted key and anchor", 5, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := state{Dir: statedir.Dir{Path: t.TempDir()}}
			db := openStateDB(t, st)
			defer db.Close()
			if tc.entries > 0 {
				appendUnanchored(t, db, tc.entries)
			}
			if err := os.MkdirAll(st.Anchor(), 0o700); err != nil {
				t.Fatal(err)
			}
			if tc.anchor {
				seq, head, err := db.AuditHead(ctx)
				if err != nil {
					t.Fatal(err)
				}
				plantAnchor(t, st.Anchor(), seq, head)
			} else {
				plantKey(t, st.Anchor())
			}
			anchors, err := audit.OpenAnchors(st.Anchor())
			if err != nil {
				t.Fatal(err)
			}
			planted := anchors.Key()
			var w bytes.Buffer
			if tc.cli {
				key, err := audit.LoadKey(st.Path)
				if err != nil {
					t.Fatal(err)
				}
				if follow, err := cliAnchor(ctx, db, audit.NewChain(key), anchors, &w); err != nil || !follow {
					t.Fatalf("the CLI anchoring the log: %v %v", follow, err)
				}
			} else if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, &w); err != nil {
				t.Fatalf("a start over the log: %v", err)
			}
			if !strings.Contains(w.String(), "fresh key") {
				t.Errorf("the start says:\n%s\nwant a note of the fresh key", w.String())
			}
			acceptedKeepsNoPlantedKey(t, db, anchors, planted)
		})
	}
}

// TestUnkeyedLogKeepsOwnKey: a key this process made (the anchor
// directory new) is recorded as it is, nothing kept aside.
func TestUnkeyedLogKeepsOwnKey(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	defer db.Close()
	appendUnanchored(t, db, 5)
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	key := anchors.Key()
	var w bytes.Buffer
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, &w); err != nil {
		t.Fatal(err)
	}
	if _, k := lastLogKey(t, db); k != key || anchors.Key() != key || strings.Contains(w.String(), "fresh key") {
		t.Fatalf("the log names %s, the directory %s, want the key made %s kept; the start says:\n%s", k, anchors.Key(), key, w.String())
	}
}

// TestUnkeyedLogRekeyFailedAdvice: a found key that cannot be replaced
// (the directory cannot be written so) stops the anchoring, with advice
// that fits whoever got there: the CLI's commands, which anchor in the
// state directory's own anchor directory, have no --audit-anchor to point
// elsewhere, and were told only to.
func TestUnkeyedLogRekeyFailedAdvice(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	defer db.Close()
	appendUnanchored(t, db, 3)
	if err := os.MkdirAll(st.Anchor(), 0o700); err != nil {
		t.Fatal(err)
	}
	plantKey(t, st.Anchor())
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.VerifyAuditAnchored(ctx, anchors)
	if err != nil || !res.OK || res.AnchorKeySeq != 0 {
		t.Fatalf("a log naming no key: %+v %v", res, err)
	}
	// A key file that cannot be read as one: Rekey cannot keep it aside.
	keyPath := filepath.Join(st.Anchor(), audit.AnchorKeyFile)
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(keyPath, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err = recordAnchorKey(ctx, db, anchors, res, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "giving it a fresh key failed") {
		t.Fatalf("a found key that cannot be replaced: %v, want the anchoring stopped", err)
	}
	if !strings.Contains(err.Error(), "move it aside") || !strings.Contains(err.Error(), "or, for a server, point --audit-anchor") {
		t.Errorf("the advice: %v, want one for the CLI as well as for a server", err)
	}
}
