package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCutTailBesideABreakIsReported: whoever writes the store, with no
// key, deletes the log's tail, the audit-anchored entry with it, and
// changes one old entry. The verification stopped at the changed entry
// and returned before the anchor was read against the log: it reported
// only "entry 3 modified", with no anchor, and an acceptance of that
// break reset the anchor over the cut, the cut entries named nowhere. The
// anchor is now checked even when the chain breaks, and the result names
// the cut beside the break.
func TestCutTailBesideABreakIsReported(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	var es []Entry
	appendState(t, c, &es, 8)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an) // entry 9 names the key; anchored at 9
	appendState(t, c, &es, 6)
	if err := an.Extend(context.Background(), int64(len(es)), es[len(es)-1].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || r.AnchorProblem != nil {
		t.Fatalf("the log before the attack: %+v, %v", r, err)
	}

	cut := append([]Entry(nil), es[:7]...) // entries 8 to 15 gone, the key entry with them
	cut[2].Payload = []byte(`{"i":"rewritten"}`)
	r, err := c.VerifyAnchored(entriesOf(cut), an)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Problem == nil || r.Problem.Seq != 3 || r.Problem.Kind != Modified {
		t.Fatalf("the break: %+v", r)
	}
	if r.Anchored == nil || r.Anchored.Seq != 15 {
		t.Errorf("anchored: %+v, want the anchor of 15 entries the log was checked against", r.Anchored)
	}
	if p := r.AnchorProblem; p == nil || p.Kind != Truncated || !strings.Contains(p.Detail, "records 15 entries") || !strings.Contains(p.Detail, "holds 7") {
		t.Fatalf("the cut beside the break: %+v, want truncated, naming 15 entries anchored and 7 held", p)
	}

	// The entry at the anchored seq rewritten, its stored hash with it,
	// the tail kept: diverged, by hash.
	moved := append([]Entry(nil), es...)
	moved[2].Payload = []byte(`{"i":"rewritten"}`)
	moved[14].Hash = strings.Repeat("ab", 32)
	if r, err := c.VerifyAnchored(entriesOf(moved), an); err != nil || r.AnchorProblem == nil || r.AnchorProblem.Kind != Diverged {
		t.Errorf("the anchored entry replaced beside a break: %+v, %v, want diverged", r.AnchorProblem, err)
	}

	// A break the anchor is past, the tail intact: no anchor problem.
	broken := append([]Entry(nil), es...)
	broken[2].Payload = []byte(`{"i":"rewritten"}`)
	if r, err := c.VerifyAnchored(entriesOf(broken), an); err != nil || r.OK || r.AnchorProblem != nil || r.Anchored == nil {
		t.Errorf("a break with the tail intact: %+v, %v, want the break alone", r, err)
	}
	// A break after the anchored entry, read up to it: checked on what
	// was read.
	late := append([]Entry(nil), es...)
	late[14].Payload = []byte(`{"i":"rewritten"}`)
	if r, err := c.VerifyAnchored(entriesOf(late), an); err != nil || r.OK || r.Problem.Seq != 15 || r.AnchorProblem != nil {
		t.Errorf("the anchored entry's contents changed, its hash kept: %+v, %v, want modified alone", r, err)
	}
}

// TestAnchorRemovedOrReplacedBesideABreak: the anchor removed (or replaced
// by one of the remover's own) beside a break of the chain was not looked
// at either, and an acceptance of the break wrote a first anchor over
// whatever the log held. The key entry the log records, past the break
// too, names it, as it does on a log that verifies; one written without
// the key names nothing.
func TestAnchorRemovedOrReplacedBesideABreak(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	var es []Entry
	appendState(t, c, &es, 8)
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an) // entry 9 names the key
	appendState(t, c, &es, 3)
	broken := append([]Entry(nil), es...)
	broken[2].Payload = []byte(`{"i":"rewritten"}`)

	other, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Reset(context.Background(), int64(len(es)), es[len(es)-1].Hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := c.VerifyAnchored(entriesOf(broken), other)
	if err != nil || r.OK || r.Problem.Seq != 3 || r.AnchorProblem == nil || r.AnchorProblem.Kind != AnchorReplaced || r.AnchorProblem.Seq != 9 || r.CutSeq() != 9 || r.AnchorCutSeq != 9 {
		t.Errorf("anchor replaced beside a break: %+v (%+v), %v; want anchor-replaced at 9, named by 9 (the key entry, not the planted anchor's seq)", r, r.AnchorProblem, err)
	}

	if err := os.Remove(filepath.Join(dir, AnchorFile)); err != nil {
		t.Fatal(err)
	}
	r, err = c.VerifyAnchored(entriesOf(broken), an)
	if err != nil || r.OK || r.Problem.Seq != 3 || r.AnchorProblem == nil || r.AnchorProblem.Kind != AnchorMissing || r.AnchorProblem.Seq != 9 || r.CutSeq() != 9 {
		t.Errorf("anchor removed beside a break: %+v (%+v), %v; want anchor-missing at 9", r, r.AnchorProblem, err)
	}
	// The key entry rewritten without the key names nothing: the break
	// alone (as a log that names no key reads).
	forged := append([]Entry(nil), broken...)
	forged[8].Payload = []byte(`{"key":"00"}`)
	if r, err := c.VerifyAnchored(entriesOf(forged), an); err != nil || r.OK || r.AnchorProblem != nil {
		t.Errorf("the key entry unsealed: %+v, %v; want the break alone", r.AnchorProblem, err)
	}
}

// TestPlantedAnchorOfSeqZeroBesideABreak: whoever can write the state
// directory plants an anchor directory of their own key whose anchor.json,
// signed with it, records seq 0; cuts the log's tail (the key entry kept)
// and changes an old entry. The anchor of seq 0 was checked against
// nothing, the key entry named it anchor-replaced, and the number that
// accepts the cut was the planted anchor's seq, 0: what
// --accept-broken-audit alone names. The number is now the key entry's.
func TestPlantedAnchorOfSeqZeroBesideABreak(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	var es []Entry
	appendState(t, c, &es, 8)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an) // entry 9 names the key
	appendState(t, c, &es, 5)

	planted, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := planted.Reset(context.Background(), 0, Genesis, time.Now()); err != nil {
		t.Fatal(err)
	}
	cut := append([]Entry(nil), es[:10]...) // entries 11 to 14 gone
	cut[2].Payload = []byte(`{"i":"rewritten"}`)
	r, err := c.VerifyAnchored(entriesOf(cut), planted)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Problem == nil || r.Problem.Seq != 3 || r.Anchored == nil || r.Anchored.Seq != 0 {
		t.Fatalf("the break beside the planted anchor: %+v", r)
	}
	if p := r.AnchorProblem; p == nil || p.Kind != AnchorReplaced || p.Seq != 9 {
		t.Fatalf("the planted anchor: %+v, want anchor-replaced at the key entry, 9", p)
	}
	if r.CutSeq() != 9 || r.AnchorCutSeq != 9 {
		t.Errorf("the number that accepts the cut: %d (JSON %d), want the key entry's 9, never the planted anchor's 0", r.CutSeq(), r.AnchorCutSeq)
	}
}

// TestAnchoredHeadFoundAtAnotherSeqBesideABreak: the anchored head held
// by the log, but at another seq than the anchor recorded (entries before
// it deleted past the break, which the check did not read): diverged,
// naming both seqs, and accepted by the entries the anchor recorded.
func TestAnchoredHeadFoundAtAnotherSeqBesideABreak(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	var es []Entry
	appendState(t, c, &es, 8)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an)
	appendState(t, c, &es, 6)
	if err := an.Extend(context.Background(), int64(len(es)), es[len(es)-1].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	moved := append([]Entry(nil), es...)
	moved[2].Payload = []byte(`{"i":"rewritten"}`)
	// The anchored entry, 15, renumbered 13: its stored hash kept.
	moved[12].Hash = moved[14].Hash
	moved = moved[:13]
	r, err := c.VerifyAnchored(entriesOf(moved), an)
	if err != nil {
		t.Fatal(err)
	}
	p := r.AnchorProblem
	if r.OK || r.Problem == nil || r.Problem.Seq != 3 || p == nil || p.Kind != Diverged || p.Seq != 15 || !strings.Contains(p.Detail, "holds that entry at 13") {
		t.Fatalf("the anchored head at another seq: %+v (%+v), want diverged at 15, found at 13", r, p)
	}
	if r.CutSeq() != 15 || r.AnchorCutSeq != 15 {
		t.Errorf("the number that accepts it: %d (JSON %d), want the anchor's 15", r.CutSeq(), r.AnchorCutSeq)
	}
}
