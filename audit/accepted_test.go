package audit

import (
	"context"
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
	if err := an.Reset(7, es[6].Hash, now); err != nil {
		t.Fatal(err)
	}
	if err := an.Advance(ctx, 27, es[26].Hash, memHashes(&es), now); err != nil {
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
	acc, _ := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem})
	es = appendTo(t, c, es, acc)
	es = appendTo(t, c, es, states(t, 5)...)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	if err := an.Reset(last.Seq, last.Hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || len(r.Accepted) != 1 {
		t.Fatalf("the accepted log: %+v %v", r, err)
	}
	if r, _ := c.VerifyAnchored(entriesOf(es[:len(es)-2]), an); r.OK || r.Problem.Kind != Truncated {
		t.Errorf("tail cut: %+v, want truncated", r)
	}
	changed := append([]Entry(nil), es...)
	changed[3].Payload = []byte(`{"i":"x"}`) // entry 6
	if r := c.Verify(changed); r.OK || r.Problem.Seq != 6 {
		t.Errorf("entry 6 changed: %+v, want modified at 6", r)
	}
}
