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
	if err != nil || r.OK || r.Problem.Seq != 3 || r.AnchorProblem == nil || r.AnchorProblem.Kind != AnchorReplaced || r.AnchorProblem.Seq != 9 || r.CutSeq() != 12 {
		t.Errorf("anchor replaced beside a break: %+v (%+v), %v; want anchor-replaced at 9, named by 12", r, r.AnchorProblem, err)
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
