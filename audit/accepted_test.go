package audit

import (
	"context"
	"strings"
	"testing"
	"time"
)

// appendTo seals n more entries of kind after es, and rec when given first.
func appendTo(t *testing.T, c *Chain, es []Entry, recs ...Record) []Entry {
	t.Helper()
	t0 := time.Date(2026, 2, 2, 3, 4, 5, 0, time.UTC)
	for i, rec := range recs {
		prev := &es[len(es)-1]
		es = append(es, c.Seal(prev, t0.Add(time.Duration(i)*time.Second), rec))
	}
	return es
}

func states(t *testing.T, n int) []Record {
	t.Helper()
	out := make([]Record, n)
	for i := range out {
		var err error
		if out[i], err = NewRecord(KindState, "r2", map[string]any{"after": i}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestAcceptedBreakKeepsGuarding: a log broken at entry 3 (its contents
// changed), accepted by its operator (the acceptance recorded, the anchor
// reset onto the head), verifies with the break listed as accepted; and
// what is done to it afterwards is still found: a tail cut is truncated, a
// later entry changed is modified at that entry, an entry before the
// acceptance changed too. One accepted break used to hide every later one:
// the log read as broken at entry 3 whatever was done to it.
func TestAcceptedBreakKeepsGuarding(t *testing.T) {
	ctx := context.Background()
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	es[2].Payload = []byte(`{"i":99}`) // entry 3 changed
	r := c.Verify(es)
	if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Modified {
		t.Fatalf("the break: %+v", r)
	}
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem, By: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	es = appendTo(t, c, es, acc)
	es = appendTo(t, c, es, states(t, 20)...)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	if err := an.Reset(context.Background(), 7, es[6].Hash, now); err != nil {
		t.Fatal(err)
	}
	if err := an.Advance(ctx, 27, es[26].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	r, err = c.VerifyAnchored(entriesOf(es), an)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || len(r.Accepted) != 1 || r.Accepted[0].Problem.Seq != 3 || r.Accepted[0].At != 7 || r.Head != es[26].Hash {
		t.Fatalf("the accepted log: %+v", r)
	}

	cut := append([]Entry(nil), es[:13]...)
	if r, _ := c.VerifyAnchored(entriesOf(cut), an); r.OK || r.Problem.Kind != Truncated {
		t.Errorf("tail cut after the acceptance: %+v, want truncated", r)
	}
	changed := append([]Entry(nil), es...)
	changed[12].Payload = []byte(`{"after":"rewritten"}`)
	if r, _ := c.VerifyAnchored(entriesOf(changed), an); r.OK || r.Problem.Seq != 13 || r.Problem.Kind != Modified {
		t.Errorf("entry 13 changed after the acceptance: %+v, want modified at 13", r)
	}
	before := append([]Entry(nil), es...)
	before[4].Payload = []byte(`{"i":"rewritten"}`)
	if r, _ := c.VerifyAnchored(entriesOf(before), an); r.OK || r.Problem.Seq != 5 || r.Problem.Kind != Modified {
		t.Errorf("entry 5, before the acceptance, changed: %+v, want modified at 5", r)
	}
	// An acceptance forged without the key accepts nothing.
	forged := append([]Entry(nil), es...)
	forged[1].Payload = []byte(`{"i":"forged"}`)
	if r := c.Verify(forged); r.OK || r.Problem.Seq != 2 {
		t.Errorf("entry 2 changed, accepted by no entry: %+v", r)
	}
	other := NewChain([]byte("another key 0123"))
	fake := other.Seal(&forged[len(forged)-1], now, acc)
	fake.Payload = []byte(`{"problem":{"seq":2,"kind":"modified"}}`)
	if r := c.Verify(append(forged, fake)); r.OK || r.Problem.Seq != 2 {
		t.Errorf("an acceptance sealed without the chain's key counted: %+v", r)
	}
}

// TestAcceptedGap: a log whose entries 3 and 4 were deleted, accepted, is
// checked by seq from there on, its anchor too (by seq, not position).
func TestAcceptedGap(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	es = append(es[:2:2], es[4:]...)
	r := c.Verify(es)
	if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Deleted {
		t.Fatalf("the break: %+v", r)
	}
	es, an := acceptAndGuard(t, c, es, r.Problem)
	if r, _ := c.VerifyAnchored(entriesOf(es[:len(es)-2]), an); r.OK || r.Problem.Kind != Truncated {
		t.Errorf("tail cut: %+v, want truncated", r)
	}
	changed := append([]Entry(nil), es...)
	changed[3].Payload = []byte(`{"i":"x"}`) // entry 6
	if r := c.Verify(changed); r.OK || r.Problem.Seq != 6 {
		t.Errorf("entry 6 changed: %+v, want modified at 6", r)
	}
}

// acceptAndGuard records the acceptance of r's break after es, appends
// five more entries and anchors the head, as a start with
// --accept-broken-audit and the appends after it do.
func acceptAndGuard(t *testing.T, c *Chain, es []Entry, p *Problem) ([]Entry, *Anchors) {
	t.Helper()
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p, By: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	es = appendTo(t, c, es, acc)
	es = appendTo(t, c, es, states(t, 5)...)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	if err := an.Reset(context.Background(), last.Seq, last.Hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || len(r.Accepted) != 1 {
		t.Fatalf("the accepted log: %+v %v", r, err)
	}
	return es, an
}

// withoutSeqs returns es less the entries from seq first to last.
func withoutSeqs(es []Entry, first, last int64) []Entry {
	var out []Entry
	for _, e := range es {
		if e.Seq < first || e.Seq > last {
			out = append(out, e)
		}
	}
	return out
}

// TestAcceptedGapCannotWiden: entries 3 and 4 of ten deleted, the gap
// accepted at entry 11, five more appended and the anchor on the head.
// Deleting entries 5 to 9 as well (everything up to the acceptance) is a
// new break: the acceptance pins the gap's range and the entries on either
// side of it. An acceptance used to name only the first missing entry and
// the kind, which the wider gap shares, and the check resumed from the
// entry after the gap without checking its link, so the wider cut verified
// as the accepted one.
func TestAcceptedGapCannotWiden(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := withoutSeqs(chainOf(t, c, 10), 3, 4)
	r := c.Verify(es)
	if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Deleted {
		t.Fatalf("the break: %+v", r)
	}
	es, an := acceptAndGuard(t, c, es, r.Problem)
	if es[8].Seq != 11 || es[8].Kind != KindBrokenAccepted {
		t.Fatalf("the acceptance is entry %d", es[8].Seq)
	}
	for _, cut := range [][2]int64{{5, 9}, {5, 5}, {9, 10}} {
		wider := withoutSeqs(es, cut[0], cut[1])
		r, err := c.VerifyAnchored(entriesOf(wider), an)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK || r.Problem == nil || r.Problem.Kind != Deleted {
			t.Errorf("entries %d to %d deleted after the gap was accepted: %+v, want a deleted break", cut[0], cut[1], r)
			continue
		}
		// The gap next to the accepted one widens it; one further on is a
		// gap of its own.
		want := int64(3)
		if cut[0] > 5 {
			want = cut[0]
		}
		if r.Problem.Seq != want || len(r.Accepted) > 1 {
			t.Errorf("entries %d to %d deleted: %+v, want the break at %d", cut[0], cut[1], r.Problem, want)
		}
		if want == 3 && !strings.Contains(r.Problem.Detail, "entry 11 accepted only") {
			t.Errorf("the break does not say what was accepted: %s", r.Problem.Detail)
		}
	}
	// The entry after the gap replaced by another sealed at its seq, and
	// the chain after it sealed again (only the key's holder can): the
	// acceptance pins the entry the check resumes at too.
	other := append([]Entry(nil), es...)
	other[2].Payload = []byte(`{"i":"another entry 5"}`)
	for i := 2; i < len(other); i++ {
		if i > 2 {
			other[i].PrevHash = other[i-1].Hash
		}
		other[i].Hash = c.sum(other[i], other[i].Seq)
	}
	if r := c.Verify(other); r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Deleted {
		t.Errorf("another entry 5 after the accepted gap: %+v, want deleted at 3", r)
	}
}

// TestAcceptedModifiedCannotChangeAgain: entry 3's contents changed and
// accepted; changed again afterwards (or its hash column changed with it),
// it is a new break, as the acceptance pins the entry as found: its stored
// hash and the hash of its contents. An acceptance used to name only the
// entry and the kind, so the accepted entry could be rewritten at will.
func TestAcceptedModifiedCannotChangeAgain(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	es[2].Payload = []byte(`{"i":99}`)
	r := c.Verify(es)
	if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Modified {
		t.Fatalf("the break: %+v", r)
	}
	// What the break shows of the entry is no seal for it: the hash of
	// its contents, stored as its hash, leaves it modified.
	sealed := append([]Entry(nil), es...)
	sealed[2].Hash = r.Problem.Found.Content
	if r := c.Verify(sealed); r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Modified {
		t.Errorf("entry 3 stored with the content hash its break showed: %+v, want modified at 3", r)
	}
	es, an := acceptAndGuard(t, c, es, r.Problem)
	again := append([]Entry(nil), es...)
	again[2].Payload = []byte(`{"i":"rewritten again"}`)
	r, err := c.VerifyAnchored(entriesOf(again), an)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Modified || len(r.Accepted) != 0 || !strings.Contains(r.Problem.Detail, "entry 7 accepted only") {
		t.Errorf("the accepted entry 3 changed again: %+v, want modified at 3, not accepted", r)
	}
	// Put back as accepted: accepted again.
	again[2].Payload = es[2].Payload
	if r, _ := c.VerifyAnchored(entriesOf(again), an); !r.OK || len(r.Accepted) != 1 {
		t.Errorf("entry 3 as accepted: %+v", r)
	}
}

// TestAcceptedOlderFormat: acceptances written before they pinned the
// break name only its entry, kind and detail. One of a gap still accepts
// that gap, whose range its detail names, and no wider one; any other
// accepts nothing (an entry changed once cannot be told from one changed
// again), and the break says to accept it again.
func TestAcceptedOlderFormat(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := withoutSeqs(chainOf(t, c, 10), 3, 4)
	old := &Problem{Seq: 3, Kind: Deleted, Detail: "entries 3 to 4 are missing"}
	es, an := acceptAndGuard(t, c, es, old)
	r, err := c.VerifyAnchored(entriesOf(withoutSeqs(es, 5, 9)), an)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Deleted || !strings.Contains(r.Problem.Detail, "entries 3 to 9") {
		t.Errorf("an older acceptance of entries 3 to 4, entries 3 to 9 missing: %+v", r)
	}
	// An older acceptance whose detail names another range, or none.
	for _, detail := range []string{"entries 3 to 9 are missing", "entries 3 to 4 are missing!", ""} {
		es := withoutSeqs(chainOf(t, c, 10), 3, 4)
		acc, _ := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: &Problem{Seq: 3, Kind: Deleted, Detail: detail}})
		es = appendTo(t, c, es, acc)
		if r := c.Verify(es); r.OK {
			t.Errorf("an older acceptance detailed %q accepted entries 3 to 4 missing", detail)
		}
	}

	es = chainOf(t, c, 6)
	es[2].Payload = []byte(`{"i":99}`)
	acc, _ := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: &Problem{Seq: 3, Kind: Modified, Detail: "its contents no longer match its hash"}})
	es = appendTo(t, c, es, acc)
	r = c.Verify(es)
	if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Modified || !strings.Contains(r.Problem.Detail, "accept it again") {
		t.Errorf("an older acceptance of a modified entry: %+v, want it to fail and say to accept again", r)
	}
	// Accepted again, in the current format: verifies.
	es, _ = acceptAndGuard(t, c, es, r.Problem)
	if r := c.Verify(es); !r.OK || len(r.Accepted) != 1 || r.Accepted[0].At != 8 {
		t.Errorf("accepted again: %+v", r)
	}
}
