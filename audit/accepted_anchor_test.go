package audit

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestForgedAcceptanceOfAnchoredRewrite: whoever holds audit.key and can
// write the database, but not the anchor directory, rewrites an anchored
// entry and reseals it. The entry after it no longer follows it, a break;
// the anchor's head is untouched. An acceptance of that break, sealed
// with the same key and appended past the anchor, made the log verify,
// the rewrite shown only as a break "accepted". An acceptance counts now
// only once the anchor covers it, as the operator's does (its start
// moves the anchor onto it); the rewrite fails, saying why.
func TestForgedAcceptanceOfAnchoredRewrite(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 10)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	if err := an.Advance(context.Background(), 10, es[9].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	// Entry 4 rewritten and resealed under the key.
	rec, err := NewRecord(KindState, "r1", map[string]any{"i": "rewritten"})
	if err != nil {
		t.Fatal(err)
	}
	rewritten := append([]Entry(nil), es...)
	rewritten[3] = c.Seal(&rewritten[2], now, rec)
	r := c.Verify(rewritten)
	if r.OK || r.Problem.Seq != 5 {
		t.Fatalf("the break: %+v", r)
	}
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem, By: "operator (serve --accept-broken-audit)"})
	if err != nil {
		t.Fatal(err)
	}
	forged := appendTo(t, c, rewritten, acc)
	r, err = c.VerifyAnchored(entriesOf(forged), an)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Problem == nil || r.Problem.Seq != 5 || !strings.Contains(r.Problem.Detail, "after the anchored entry 10") {
		t.Fatalf("an anchored entry rewritten, its break accepted past the anchor: ok %v, accepted %+v, problem %+v; want it to fail at entry 5", r.OK, r.Accepted, r.Problem)
	}
	// Without the key, the same.
	if r, err := NewUnkeyedChain().VerifyAnchored(entriesOf(forged), an); err != nil || r.OK || r.Problem.Seq != 5 {
		t.Fatalf("unkeyed: %+v %v", r, err)
	}

	// The operator's acceptance: the start that writes it moves the anchor
	// onto it (Reset), and from then on it counts.
	if err := an.Reset(context.Background(), 11, forged[10].Hash, now); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(forged), an); err != nil || !r.OK || len(r.Accepted) != 1 || r.Accepted[0].At != 11 {
		t.Fatalf("the acceptance the anchor covers: %+v %v", r, err)
	}
}

// TestAcceptanceWrittenWhileVerifying: another server's start accepts the
// break after this verification read the anchor and before it read the
// log: the acceptance is past the anchor it read, and the anchor moved
// onto it since. The anchor is read again and the log with it; the break
// is accepted.
func TestAcceptanceWrittenWhileVerifying(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	if err := an.Advance(context.Background(), 6, es[5].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	es[2].Payload = []byte(`{"i":99}`) // entry 3 changed
	r := c.Verify(es)
	if r.OK || r.Problem.Seq != 3 {
		t.Fatalf("the break: %+v", r)
	}
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem, By: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	snap := func(fn func(Source) error) error {
		if reads++; reads == 1 {
			es = appendTo(t, c, es, acc)
			if err := an.Reset(context.Background(), 7, es[6].Hash, now); err != nil {
				t.Fatal(err)
			}
		}
		return fn(SliceSource(es))
	}
	r, err = c.VerifySnapshot(snap, an)
	if err != nil || !r.OK || len(r.Accepted) != 1 || r.Accepted[0].At != 7 {
		t.Fatalf("an acceptance anchored while the log was read: %+v %v", r, err)
	}
}
