package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// anchoredLog is a state directory's log of 12 entries anchored in
// STATE/anchor, entry 6 naming its key.
func anchoredLog(t *testing.T) (state, *store.SQLite) {
	t.Helper()
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
	return st, db
}

// plantAnchor puts in dir an anchor directory of a key of its own (the
// planter's), whose anchor records seq and head.
func plantAnchor(t *testing.T, dir string, seq int64, head string) {
	t.Helper()
	src := t.TempDir()
	planted, err := audit.OpenAnchors(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := planted.Reset(context.Background(), seq, head, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{audit.AnchorKeyFile, audit.AnchorFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// plantKey puts in dir a key file of the planter's, and no anchor.
func plantKey(t *testing.T, dir string) string {
	t.Helper()
	src := t.TempDir()
	planted, err := audit.OpenAnchors(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(src, audit.AnchorKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, audit.AnchorKeyFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return planted.Key()
}

// lastLogKey is the key the log's last key entry names, and its seq.
func lastLogKey(t *testing.T, db *store.SQLite) (int64, string) {
	t.Helper()
	var seq int64
	var payload string
	if err := db.DB().QueryRow(`SELECT seq, payload FROM audit WHERE kind = ? ORDER BY seq DESC LIMIT 1`, audit.KindAnchored).Scan(&seq, &payload); err != nil {
		t.Fatal(err)
	}
	var p audit.AnchoredPayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.Fatal(err)
	}
	return seq, p.Key
}

// acceptedKeepsNoPlantedKey checks a log accepted over an anchor
// directory planted with the key planted: the log's last key entry names
// the directory's key now, a fresh one, the planted key kept aside, and
// the log verifies against the directory.
func acceptedKeepsNoPlantedKey(t *testing.T, db *store.SQLite, anchors *audit.Anchors, planted string) {
	t.Helper()
	ctx := context.Background()
	seq, key := lastLogKey(t, db)
	if key == planted {
		t.Fatalf("the acceptance recorded the planted key %s as the log's (entry %d)", planted, seq)
	}
	if key != anchors.Key() {
		t.Fatalf("the log's last key entry %d names %s, want the anchor directory's new key %s", seq, key, anchors.Key())
	}
	reopened, err := audit.OpenAnchors(anchors.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if reopened.Key() != key {
		t.Fatalf("the anchor directory's key file holds %s, want %s", reopened.Key(), key)
	}
	aside, err := filepath.Glob(filepath.Join(anchors.Dir(), audit.AnchorKeyFile+audit.AsideSuffix+"*"))
	if err != nil || len(aside) != 1 {
		t.Fatalf("the old key kept aside: %v %v, want one file", aside, err)
	}
	b, err := os.ReadFile(aside[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, audit.AnchorKeyFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if kept, err := audit.ReadAnchors(dir); err != nil || kept.Key() != planted {
		t.Fatalf("the key kept aside is %v (%v), want the planted %s", kept, err, planted)
	}
	if res, err := db.VerifyAuditAnchored(ctx, reopened); err != nil || !res.OK {
		t.Fatalf("the log accepted: %+v (%+v) %v", res, res.Problem, err)
	}
}

// TestAcceptBrokenAuditKeepsNoPlantedKeyOfSeqZero: whoever can write the
// state directory puts an anchor directory of their own key there, its
// anchor.json recording seq 0, cuts the log's tail (the key entry kept)
// and changes an old entry. The anchor reads replaced beside the break,
// named by the log's key entry, 6, and is accepted so; the acceptance
// records a fresh key, never the planted one (refused before, with advice
// to move the directory aside).
func TestAcceptBrokenAuditKeepsNoPlantedKeyOfSeqZero(t *testing.T) {
	ctx := context.Background()
	st, db := anchoredLog(t)
	plantAnchor(t, st.Anchor(), 0, audit.Genesis)
	if _, err := db.DB().Exec(`DELETE FROM audit WHERE seq >= 8`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB().Exec(`UPDATE audit SET payload = '{"i":99}' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openStateDB(t, st)
	defer db.Close()
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	planted := anchors.Key()
	res, err := db.VerifyAuditAnchored(ctx, anchors)
	if err != nil || res.OK || res.AnchorProblem == nil || res.AnchorProblem.Kind != audit.AnchorReplaced || res.CutSeq() != 6 {
		t.Fatalf("the attacked log: %+v (%+v) %v, want anchor-replaced beside the break, named by the key entry, 6", res, res.AnchorProblem, err)
	}
	var out bytes.Buffer
	if err := printVerify(&out, res); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "aside first") || !strings.Contains(out.String(), "--accept-audit-cut 6") {
		t.Errorf("audit verify says:\n%s\nwant the acceptance with N 6", out.String())
	}
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), audit.AnchorReplaced) || !strings.Contains(err.Error(), "--accept-audit-cut 6") {
		t.Fatalf("a start accepting the break alone: %v, want it refused, naming 6", err)
	}
	if n := countAudit(t, db); n != 7 {
		t.Fatalf("the refused start left %d entries, want the 7 the attack left", n)
	}
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true, Cut: 6}, io.Discard); err != nil {
		t.Fatalf("a start accepting both: %v", err)
	}
	acceptedKeepsNoPlantedKey(t, db, anchors, planted)
}

// TestAcceptBrokenAuditKeepsNoReplacedKey: the anchor replaced by one of
// another key, signing the head of a log that otherwise verifies (cut to
// it, say). Accepted, the log records a fresh key, never the replacer's.
func TestAcceptBrokenAuditKeepsNoReplacedKey(t *testing.T) {
	ctx := context.Background()
	st, db := anchoredLog(t)
	defer db.Close()
	if _, err := db.DB().Exec(`DELETE FROM audit WHERE seq >= 10`); err != nil {
		t.Fatal(err)
	}
	var head string
	if err := db.DB().QueryRow(`SELECT hash FROM audit WHERE seq = 9`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	plantAnchor(t, st.Anchor(), 9, head)
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	planted := anchors.Key()
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), audit.AnchorReplaced) || !strings.Contains(err.Error(), "gives the anchor directory "+st.Anchor()+" a fresh key") {
		t.Fatalf("a start accepting nothing: %v, want it refused, saying what an acceptance does to the directory", err)
	}
	var warned bytes.Buffer
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, &warned); err != nil || !strings.Contains(warned.String(), audit.AnchorReplaced) {
		t.Fatalf("a start accepting a replaced anchor: %v %q", err, warned.String())
	}
	acceptedKeepsNoPlantedKey(t, db, anchors, planted)
}

// TestAcceptBrokenAuditKeepsNoPlantedKeyPastLog: a planted anchor.key and
// an anchor signed with it recording more entries than the log holds. On
// an intact log the anchor read as a tail cut (the cut was checked
// before the key), beside a break as a cut named by the planted anchor's
// seq: accepted either way, the planter's key became the log's. It now
// reads replaced, named by the log's key entry, and the acceptance
// records a fresh key.
func TestAcceptBrokenAuditKeepsNoPlantedKeyPastLog(t *testing.T) {
	for _, beside := range []bool{false, true} {
		t.Run(map[bool]string{false: "intact", true: "beside a break"}[beside], func(t *testing.T) {
			ctx := context.Background()
			st, db := anchoredLog(t)
			plantAnchor(t, st.Anchor(), 17, strings.Repeat("ab", 32))
			accept := auditAccept{Broken: true}
			if beside {
				if _, err := db.DB().Exec(`UPDATE audit SET payload = '{"i":99}' WHERE seq = 3`); err != nil {
					t.Fatal(err)
				}
				accept.Cut = 6
			}
			db.Close()
			db = openStateDB(t, st)
			defer db.Close()
			anchors, err := audit.OpenAnchors(st.Anchor())
			if err != nil {
				t.Fatal(err)
			}
			planted := anchors.Key()
			res, err := db.VerifyAuditAnchored(ctx, anchors)
			p := res.Problem
			if beside {
				p = res.AnchorProblem
			}
			if err != nil || res.OK || p == nil || p.Kind != audit.AnchorReplaced || p.Seq != 6 {
				t.Fatalf("the log beside a planted anchor past it: %+v (%+v) %v, want anchor-replaced at the key entry, 6", res, p, err)
			}
			if beside {
				if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true, Cut: 17}, io.Discard); err == nil {
					t.Fatal("a start accepting the planted anchor's seq as N: accepted")
				}
			}
			if err := checkAuditAtStart(ctx, db, anchors, accept, io.Discard); err != nil {
				t.Fatalf("a start accepting %+v: %v", accept, err)
			}
			acceptedKeepsNoPlantedKey(t, db, anchors, planted)
		})
	}
}

// TestAcceptBrokenAuditKeepsNoPlantedKeyAlone: a key file planted in
// place of the anchor directory's, with no anchor.json: the log reads
// anchor-missing, and accepting that recorded the planted key. The
// acceptance records a fresh key.
func TestAcceptBrokenAuditKeepsNoPlantedKeyAlone(t *testing.T) {
	ctx := context.Background()
	st, db := anchoredLog(t)
	defer db.Close()
	if err := os.Remove(filepath.Join(st.Anchor(), audit.AnchorFile)); err != nil {
		t.Fatal(err)
	}
	planted := plantKey(t, st.Anchor())
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	var warned bytes.Buffer
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, &warned); err != nil || !strings.Contains(warned.String(), audit.AnchorMissing) {
		t.Fatalf("a start accepting the anchor missing: %v %q", err, warned.String())
	}
	acceptedKeepsNoPlantedKey(t, db, anchors, planted)
}

// TestAcceptBrokenAuditKeepsNoPlantedKeyOfUnkeyedLog: a log that names no
// anchor key (from before anchoring), beside an anchor directory planted
// with an anchor past its head: it reads as a cut, and the acceptance
// recorded the planted key, the first the log named. A key this start did
// not make is not kept.
func TestAcceptBrokenAuditKeepsNoPlantedKeyOfUnkeyedLog(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	defer db.Close()
	appendUnanchored(t, db, 5)
	if err := os.MkdirAll(st.Anchor(), 0o700); err != nil {
		t.Fatal(err)
	}
	plantAnchor(t, st.Anchor(), 9, strings.Repeat("cd", 32))
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	planted := anchors.Key()
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, io.Discard); err != nil {
		t.Fatalf("a start accepting the cut: %v", err)
	}
	acceptedKeepsNoPlantedKey(t, db, anchors, planted)
}

// TestAcceptBrokenAuditKeepsOwnKey: a key this start made, or the one
// the log names, is kept: no key aside.
func TestAcceptBrokenAuditKeepsOwnKey(t *testing.T) {
	ctx := context.Background()
	st, db := anchoredLog(t)
	defer db.Close()
	if _, err := db.DB().Exec(`DELETE FROM audit WHERE seq >= 10`); err != nil {
		t.Fatal(err)
	}
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	key := anchors.Key()
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, io.Discard); err != nil {
		t.Fatalf("a start accepting the cut: %v", err)
	}
	if _, k := lastLogKey(t, db); k != key || anchors.Key() != key {
		t.Fatalf("the log names %s, the directory %s, want the log's own %s kept", k, anchors.Key(), key)
	}
	if aside, _ := filepath.Glob(filepath.Join(st.Anchor(), "*"+audit.AsideSuffix+"*")); len(aside) != 0 {
		t.Fatalf("kept aside: %v, want nothing", aside)
	}
}

// resultStore answers a verification with res.
type resultStore struct {
	*store.SQLite
	res audit.Result
}

func (s resultStore) VerifyAuditAnchored(context.Context, *audit.Anchors) (audit.Result, error) {
	return s.res, nil
}

// TestAcceptBrokenAuditRefusesCutNamedZero: a cut beside a break whose
// number is 0 is what --accept-broken-audit alone names; no start
// accepts it, whatever the result it came in. It covers a defensive
// branch: no verification gives such a result (CutSeq is above 0 for every
// problem a start accepts), so the store here answers a made-up one.
func TestAcceptBrokenAuditRefusesCutNamedZero(t *testing.T) {
	ctx := context.Background()
	st, db := anchoredLog(t)
	defer db.Close()
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	an, _, err := anchors.Read()
	if err != nil {
		t.Fatal(err)
	}
	an.Seq = 0
	res := audit.Result{Entries: 4, Problem: &audit.Problem{Seq: 3, Kind: audit.Modified, Detail: "x"}, Anchored: &an, AnchorProblem: &audit.Problem{Seq: 5, Kind: audit.Truncated, Detail: "y"}}
	if res.CutSeq() != 0 {
		t.Fatalf("CutSeq %d, want 0 for this test", res.CutSeq())
	}
	for _, accept := range []auditAccept{{Broken: true}, {Broken: true, Cut: 5}} {
		if err := checkAuditAtStart(ctx, resultStore{db, res}, anchors, accept, io.Discard); err == nil || !strings.Contains(err.Error(), "no number names that cut") {
			t.Errorf("accepting %+v: %v, want it refused", accept, err)
		}
	}
	if n := countAudit(t, db); n != 12 {
		t.Errorf("the refused starts left %d entries, want 12", n)
	}
}

// TestAnchorMovedHintOnlyForLogsKey: a start refused for an anchor
// missing from --audit-anchor's directory is told to move the state
// directory's anchor there only when that one holds the key the log
// names: a directory of another key (planted by whoever can write the
// state directory) was named as the log's anchor to move.
func TestAnchorMovedHintOnlyForLogsKey(t *testing.T) {
	ctx := context.Background()
	st, db := anchoredLog(t)
	defer db.Close()
	elsewhere := filepath.Join(t.TempDir(), "anchor")
	refusal := func() error {
		t.Helper()
		anchors, err := audit.OpenAnchors(elsewhere)
		if err != nil {
			t.Fatal(err)
		}
		err = checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), audit.AnchorMissing) {
			t.Fatalf("a start over another anchor directory: %v, want anchor-missing", err)
		}
		return anchorMovedHint(err, elsewhere, st.Anchor())
	}
	if err := refusal(); !strings.Contains(err.Error(), "move that directory") {
		t.Errorf("the state directory holding the log's anchor: %v, want the hint", err)
	}
	plantAnchor(t, st.Anchor(), 12, strings.Repeat("ab", 32))
	if err := refusal(); strings.Contains(err.Error(), "move that directory") {
		t.Errorf("the state directory holding a planted anchor: %v, want no hint to move it", err)
	}
}

// TestAnchorMovedHintBesideBreak: the anchor missing from --audit-anchor's
// directory beside a break is the refusal's anchor problem, not its
// problem. Without the hint the refusal offered only to accept both, and
// that recorded a fresh key, so the log's anchor in the state directory
// never checked the tail that may have been cut.
func TestAnchorMovedHintBesideBreak(t *testing.T) {
	ctx := context.Background()
	st, db := anchoredLog(t)
	defer db.Close()
	if _, err := db.DB().Exec(`UPDATE audit SET payload = '{"i":99}' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "anchor")
	anchors, err := audit.OpenAnchors(elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), audit.AnchorMissing) || !strings.Contains(err.Error(), "--accept-audit-cut 6") {
		t.Fatalf("a start over another anchor directory, the log broken: %v, want the break and the anchor missing", err)
	}
	if err := anchorMovedHint(err, elsewhere, st.Anchor()); !strings.Contains(err.Error(), "move that directory") || !strings.Contains(err.Error(), "before accepting anything") {
		t.Errorf("the state directory holding the log's anchor, beside a break: %v, want the hint to move it first", err)
	}
	plantAnchor(t, st.Anchor(), 12, strings.Repeat("ab", 32))
	if err := anchorMovedHint(err, elsewhere, st.Anchor()); strings.Contains(err.Error(), "move that directory") {
		t.Errorf("the state directory holding a planted anchor, beside a break: %v, want no hint to move it", err)
	}
}
