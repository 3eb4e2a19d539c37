package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFollowerDoesNotAnchorForgedAcceptance: a server runs, its follower
// moving the anchor after every append. Whoever holds audit.key and can
// write the database rewrites an anchored entry, reseals it and appends an
// acceptance of the break it leaves, sealed under the key. The server's
// next append moved the anchor over the acceptance, which then counted:
// the log verified, the rewrite shown as a break accepted. The follower
// now refuses to move the anchor over an acceptance (no start wrote it),
// says so, and the log fails at the break.
func TestFollowerDoesNotAnchorForgedAcceptance(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 10)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an) // anchored at entry 11, the key entry

	// Entry 4 rewritten and resealed, and the break it leaves accepted,
	// by direct writes to the database: the server is not told.
	rec, err := NewRecord(KindState, "r1", map[string]any{"i": "rewritten"})
	if err != nil {
		t.Fatal(err)
	}
	es[3] = c.Seal(&es[2], time.Now(), rec)
	r := c.Verify(es)
	if r.OK || r.Problem.Seq != 5 {
		t.Fatalf("the break: %+v", r)
	}
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem, By: "operator (serve --accept-broken-audit)"})
	if err != nil {
		t.Fatal(err)
	}
	appendRec(t, c, &es, acc) // entry 12

	// The server's next append, and its follower.
	errs := make(chan error, 100)
	f := NewFollower(an, memLog(&es), func(err error) { errs <- err })
	go f.Run()
	appendState(t, c, &es, 1) // entry 13
	f.Notify(13, es[12].Hash)
	f.Close() // anchors the last head, or fails to, before it returns

	r, err = c.VerifyAnchored(entriesOf(es), an)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Problem == nil || r.Problem.Seq != 5 {
		t.Fatalf("an anchored entry rewritten, its break accepted while the server ran: ok %v, accepted %+v, problem %+v; want it to fail at entry 5", r.OK, r.Accepted, r.Problem)
	}
	if !strings.Contains(r.Problem.Detail, "after the anchored entry 11") {
		t.Errorf("the failure does not name the acceptance past the anchor: %s", r.Problem.Detail)
	}
	got, _, err := an.Read()
	if err != nil || got.Seq != 11 {
		t.Errorf("anchor at %d (%v), want it left at 11, before the acceptance", got.Seq, err)
	}
	select {
	case err := <-errs:
		var p *Problem
		if !errors.As(err, &p) || p.Kind != UnanchoredAcceptance || p.Seq != 12 {
			t.Errorf("the follower said %v, want entry 12 an unanchored acceptance", err)
		}
	default:
		t.Error("the follower did not say why it did not anchor")
	}
}

// TestAcceptancePastAnchorFails: an acceptance sealed under the key past
// the anchor, which no anchor update moves over, fails verification even
// when the log has no break for it to accept (written ahead of a rewrite
// to come): it would count once anchored. Accepted by the operator (the
// start anchors that acceptance, and so this one), the log verifies.
func TestAcceptancePastAnchorFails(t *testing.T) {
	ctx := context.Background()
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an) // anchored at entry 7
	ahead := &Problem{Seq: 3, Kind: Modified, Found: &Found{Before: es[1].Hash, Entry: 3, Hash: es[2].Hash, Content: strings.Repeat("0", 64)}}
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: ahead, By: "operator (serve --accept-broken-audit)"})
	if err != nil {
		t.Fatal(err)
	}
	appendRec(t, c, &es, acc) // entry 8
	appendState(t, c, &es, 2)

	err = an.Extend(ctx, 10, es[9].Hash, memLog(&es), time.Now())
	var p *Problem
	if !errors.As(err, &p) || p.Kind != UnanchoredAcceptance || p.Seq != 8 {
		t.Fatalf("extending over the acceptance: %v, want entry 8 an unanchored acceptance", err)
	}
	for name, chain := range map[string]*Chain{"keyed": c, "unkeyed": NewUnkeyedChain()} {
		r, err := chain.VerifyAnchored(entriesOf(es), an)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK || r.Problem.Kind != UnanchoredAcceptance || r.Problem.Seq != 8 {
			t.Fatalf("%s: an acceptance past the anchor: %+v, want entry 8 %s", name, r.Problem, UnanchoredAcceptance)
		}
	}

	// The operator accepts it: the start writes its acceptance and anchors it.
	r, _ := c.VerifyAnchored(entriesOf(es), an)
	op, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem, Anchored: r.Anchored, By: "operator (serve --accept-broken-audit)"})
	if err != nil {
		t.Fatal(err)
	}
	appendRec(t, c, &es, op)
	if err := an.Reset(ctx, 11, es[10].Hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK {
		t.Fatalf("accepted by the operator: %+v %v", r.Problem, err)
	}
	// And the anchor follows the log again.
	appendState(t, c, &es, 1)
	if err := an.Extend(ctx, 12, es[11].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestOversizedAcceptancePastAnchorIgnored: an acceptance over
// MaxAcceptancePayload accepts nothing, and anchor updates may move over
// it (a store leaves it out rather than read it); verification does not
// fail at it either, or the log would fail until the next append moved the
// anchor, and pass after.
func TestOversizedAcceptancePastAnchorIgnored(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 4)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an)
	big, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: &Problem{Seq: 2, Kind: Modified}, By: strings.Repeat("x", MaxAcceptancePayload)})
	if err != nil {
		t.Fatal(err)
	}
	appendRec(t, c, &es, big)
	r, err := c.VerifyAnchored(entriesOf(es), an)
	if err != nil || !r.OK {
		t.Fatalf("an oversized acceptance past the anchor: %+v %v", r.Problem, err)
	}
}
