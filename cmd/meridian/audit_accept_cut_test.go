package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// TestAcceptBrokenAuditDoesNotReanchorOverCut: whoever can write the
// store, with no key, deletes the log's tail, the audit-anchored entry
// with it, and changes one old entry (3). The start and audit verify
// reported only "entry 3 modified"; the operator accepted it with
// --accept-broken-audit, the start reset the anchor onto the cut head, and
// from then on the log verified, its acceptance naming entry 3 alone: the
// entries cut were named nowhere. Now the start and audit verify name the
// cut; --accept-broken-audit alone refuses to anchor over it, and leaves
// the anchor where it was; --accept-audit-cut N, N the entries the anchor
// recorded, accepts both, and the acceptance names the cut.
func TestAcceptBrokenAuditDoesNotReanchorOverCut(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	appendUnanchored(t, db, 5)
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	appendUnanchored(t, db, 6)
	seq, head, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := anchors.Extend(ctx, seq, head, anchorLog(db), time.Now()); err != nil {
		t.Fatal(err)
	}
	if seq != 12 {
		t.Fatalf("head at %d, want 12 (5, the key entry, 6)", seq)
	}
	var keySeq int64
	if err := db.DB().QueryRow(`SELECT seq FROM audit WHERE kind = ?`, audit.KindAnchored).Scan(&keySeq); err != nil || keySeq != 6 {
		t.Fatalf("the key entry: %d %v, want entry 6", keySeq, err)
	}
	// The attack: the tail from entry 5 on (the key entry with it) gone,
	// entry 3 changed.
	if _, err := db.DB().Exec(`DELETE FROM audit WHERE seq >= 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB().Exec(`UPDATE audit SET payload = '{"i":99}' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openStateDB(t, st) // the operator's next start
	defer db.Close()

	res, err := db.VerifyAuditAnchored(ctx, anchors)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Problem == nil || res.Problem.Seq != 3 {
		t.Fatalf("the attacked log: %+v", res)
	}
	if res.AnchorProblem == nil || res.AnchorProblem.Kind != audit.Truncated || res.Anchored == nil || res.Anchored.Seq != 12 {
		t.Fatalf("the attacked log's anchor: %+v, anchored %+v; want truncated against the anchor of 12 entries", res.AnchorProblem, res.Anchored)
	}
	var out bytes.Buffer
	if err := printVerify(&out, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "BROKEN at entry 3") || !strings.Contains(out.String(), "CUT") || !strings.Contains(out.String(), "--accept-audit-cut 12") {
		t.Errorf("audit verify says:\n%s\nwant the break, the cut and how to accept both", out.String())
	}

	before, _, err := anchors.Read()
	if err != nil {
		t.Fatal(err)
	}
	unmoved := func(what string) {
		t.Helper()
		if now, _, err := anchors.Read(); err != nil || now != before {
			t.Errorf("%s: the anchor moved from %d to %d (%v)", what, before.Seq, now.Seq, err)
		}
	}
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "--accept-audit-cut 12") {
		t.Errorf("a start on the attacked log: %v, want it refused naming the cut", err)
	}
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "--accept-audit-cut 12") {
		t.Errorf("a start accepting the break alone: %v, want it refused naming the cut", err)
	}
	unmoved("--accept-broken-audit alone")
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true, Cut: 11}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--accept-audit-cut 11 names another") {
		t.Errorf("a start naming another cut: %v, want it refused", err)
	}
	unmoved("--accept-audit-cut 11")
	if n := countAudit(t, db); n != 4 {
		t.Errorf("the refused starts left %d entries, want the 4 left by the attack", n)
	}

	var warned bytes.Buffer
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true, Cut: 12}, &warned); err != nil {
		t.Fatalf("a start accepting the break and the cut: %v", err)
	}
	if !strings.Contains(warned.String(), "entry 3") || !strings.Contains(warned.String(), "truncated") {
		t.Errorf("the start's warning: %q, want the break and the cut", warned.String())
	}
	es, err := db.AuditSelect(ctx, store.AuditQuery{AllTenants: true, Kinds: []string{audit.KindBrokenAccepted}})
	if err != nil || len(es) != 1 {
		t.Fatalf("acceptances: %d %v", len(es), err)
	}
	var acc audit.BrokenAccepted
	if err := json.Unmarshal(es[0].Payload, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Problem == nil || acc.Problem.Seq != 3 || acc.AnchorProblem == nil || acc.AnchorProblem.Kind != audit.Truncated || acc.Anchored == nil || acc.Anchored.Seq != 12 {
		t.Errorf("the acceptance records %+v, want the break at 3, the cut and the anchor of 12 entries", acc)
	}
	if res, err := db.VerifyAuditAnchored(ctx, anchors); err != nil || !res.OK {
		t.Errorf("the log accepted: %+v %v", res, err)
	}
}

func countAudit(t *testing.T, db *store.SQLite) int {
	t.Helper()
	var n int
	if err := db.DB().QueryRow(`SELECT COUNT(*) FROM audit`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAcceptBrokenAuditDoesNotReanchorOverRemovedAnchor: anchor.json
// removed beside a break. The break was reported alone, and accepting it
// wrote a first anchor over whatever the log held then. Now the start
// names the anchor missing, and accepts both only when told the entry
// naming the missing anchor's key.
func TestAcceptBrokenAuditDoesNotReanchorOverRemovedAnchor(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	appendUnanchored(t, db, 5)
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	appendUnanchored(t, db, 3)
	if _, err := db.DB().Exec(`UPDATE audit SET payload = '{"i":99}' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(st.Anchor(), audit.AnchorFile)); err != nil {
		t.Fatal(err)
	}
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), audit.AnchorMissing) || !strings.Contains(err.Error(), "--accept-audit-cut 6") {
		t.Errorf("a start accepting the break alone, the anchor removed: %v, want it refused naming the anchor missing", err)
	}
	if _, ok, err := anchors.Read(); ok || err != nil {
		t.Errorf("the refused start wrote an anchor (%v)", err)
	}
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true, Cut: 6}, io.Discard); err != nil {
		t.Fatalf("a start accepting both: %v", err)
	}
	if res, err := db.VerifyAuditAnchored(ctx, anchors); err != nil || !res.OK {
		t.Errorf("the log accepted: %+v %v", res, err)
	}
}

// TestServeRefusesAcceptAuditCutAlone: --accept-audit-cut is bad input,
// naming the flag, when negative or given without --accept-broken-audit,
// with whose break alone it is taken.
func TestServeRefusesAcceptAuditCutAlone(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	state := filepath.Join(t.TempDir(), "state")
	for _, args := range [][]string{{"--accept-audit-cut", "-3", "--accept-broken-audit"}, {"--accept-audit-cut", "12"}} {
		_, err := runCLI(t, append([]string{"serve", "--state", state, "--listen", "no-port"}, args...)...)
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.HasPrefix(err.Error(), "--accept-audit-cut") {
			t.Errorf("serve %v: %v, want bad input naming the flag", args, err)
		}
	}
	_, err := runCLI(t, "serve", "--state", state, "--listen", "no-port", "--accept-broken-audit", "--accept-audit-cut", "12")
	if err == nil || !strings.HasPrefix(err.Error(), "--listen") {
		t.Errorf("both flags: %v, want the --listen refusal", err)
	}
}
