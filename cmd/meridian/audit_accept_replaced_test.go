package main

import (
	"bytes"
	"context"
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

// TestAcceptBrokenAuditRefusesPlantedAnchorOfSeqZero: whoever can write the
// state directory puts an anchor directory of their own key there, its
// anchor.json recording seq 0, cuts the log's tail (the key entry kept)
// and changes an old entry. The anchor was named replaced beside the
// break, and the number that accepted the cut was the planted anchor's
// seq, 0: --accept-broken-audit alone accepted it, recorded the planted
// key as the log's and reset the anchor with it. A replaced anchor is now
// never accepted; moved aside, the start reports the anchor missing, N
// being the key entry, and makes a fresh key.
func TestAcceptBrokenAuditRefusesPlantedAnchorOfSeqZero(t *testing.T) {
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
	planted, _, err := anchors.Read()
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.VerifyAuditAnchored(ctx, anchors)
	if err != nil || res.OK || res.AnchorProblem == nil || res.AnchorProblem.Kind != audit.AnchorReplaced || res.CutSeq() != 6 {
		t.Fatalf("the attacked log: %+v (%+v) %v, want anchor-replaced beside the break, named by the key entry, 6", res, res.AnchorProblem, err)
	}
	var out bytes.Buffer
	if err := printVerify(&out, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "move it aside") || strings.Contains(out.String(), "accepts the break only with it") {
		t.Errorf("audit verify says:\n%s\nwant the planted anchor to be moved aside, not accepted", out.String())
	}
	for _, accept := range []auditAccept{{Broken: true}, {Broken: true, Cut: 6}} {
		err := checkAuditAtStart(ctx, db, anchors, accept, io.Discard)
		if err == nil || !strings.Contains(err.Error(), audit.AnchorReplaced) || !strings.Contains(err.Error(), "move "+st.Anchor()+" aside") {
			t.Errorf("a start accepting %+v: %v, want it refused, saying to move the planted directory aside", accept, err)
		}
		if now, _, err := anchors.Read(); err != nil || now != planted {
			t.Errorf("accepting %+v moved the anchor: %+v %v", accept, now, err)
		}
	}
	if n := countAudit(t, db); n != 7 {
		t.Fatalf("the refused starts left %d entries, want the 7 the attack left", n)
	}

	// The operator moves it aside: the anchor is missing, accepted by
	// the key entry, and the log gets a fresh key.
	if err := os.Rename(st.Anchor(), st.Anchor()+".planted"); err != nil {
		t.Fatal(err)
	}
	fresh, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	err = checkAuditAtStart(ctx, db, fresh, auditAccept{Broken: true}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), audit.AnchorMissing) || !strings.Contains(err.Error(), "--accept-audit-cut 6") {
		t.Fatalf("a start accepting the break alone, the anchor moved aside: %v, want anchor-missing named by 6", err)
	}
	if err := checkAuditAtStart(ctx, db, fresh, auditAccept{Broken: true, Cut: 6}, io.Discard); err != nil {
		t.Fatalf("a start accepting both: %v", err)
	}
	res, err = db.VerifyAuditAnchored(ctx, fresh)
	if err != nil || !res.OK {
		t.Fatalf("the log accepted: %+v %v", res, err)
	}
	if fresh.Key() == planted.Key {
		t.Fatal("the fresh anchor directory has the planted key")
	}
}

// TestAcceptBrokenAuditRefusesReplacedAnchor: the anchor replaced by one
// of another key, signing the head of a log that otherwise verifies (cut
// to it, say). Accepting anchor-replaced recorded that key as the log's:
// whoever planted it signed every later anchor. It is refused; moved
// aside, the anchor is missing and accepted as before.
func TestAcceptBrokenAuditRefusesReplacedAnchor(t *testing.T) {
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
	err = checkAuditAtStart(ctx, db, anchors, auditAccept{Broken: true}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), audit.AnchorReplaced) || !strings.Contains(err.Error(), "move "+st.Anchor()+" aside") {
		t.Fatalf("a start accepting a replaced anchor: %v, want it refused", err)
	}
	if n := countAudit(t, db); n != 9 {
		t.Fatalf("the refused start left %d entries, want 9", n)
	}
	if err := os.Rename(st.Anchor(), st.Anchor()+".planted"); err != nil {
		t.Fatal(err)
	}
	fresh, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	var warned bytes.Buffer
	if err := checkAuditAtStart(ctx, db, fresh, auditAccept{Broken: true}, &warned); err != nil || !strings.Contains(warned.String(), audit.AnchorMissing) {
		t.Fatalf("a start accepting the anchor missing: %v %q", err, warned.String())
	}
	if res, err := db.VerifyAuditAnchored(ctx, fresh); err != nil || !res.OK {
		t.Fatalf("the log accepted: %+v %v", res, err)
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
// accepts it, whatever the result it came in.
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
