package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appendRec seals rec at the end of *es.
func appendRec(t *testing.T, c *Chain, es *[]Entry, rec Record) {
	t.Helper()
	var prev *Entry
	if len(*es) > 0 {
		prev = &(*es)[len(*es)-1]
	}
	*es = append(*es, c.Seal(prev, time.Date(2026, 3, 1, 0, 0, len(*es), 0, time.UTC), rec))
}

func appendState(t *testing.T, c *Chain, es *[]Entry, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		rec, err := NewRecord(KindState, "r1", map[string]any{"i": len(*es)})
		if err != nil {
			t.Fatal(err)
		}
		appendRec(t, c, es, rec)
	}
}

// startAnchored does what a server start does over a verified log: anchor
// the head, then record the key, then extend the anchor over that entry.
func startAnchored(t *testing.T, c *Chain, es *[]Entry, an *Anchors) {
	t.Helper()
	ctx := context.Background()
	head := Genesis
	if len(*es) > 0 {
		head = (*es)[len(*es)-1].Hash
	}
	if err := an.Advance(ctx, int64(len(*es)), head, memLog(es), time.Now()); err != nil {
		t.Fatal(err)
	}
	rec, err := an.KeyRecord()
	if err != nil {
		t.Fatal(err)
	}
	appendRec(t, c, es, rec)
	if err := an.Extend(ctx, int64(len(*es)), (*es)[len(*es)-1].Hash, memLog(es), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestAnchorRemovedIsNoticed: the log records its anchor key, so removing
// anchor.json (or the whole anchor directory) no longer lets a cut tail
// read as a log that was never anchored.
func TestAnchorRemovedIsNoticed(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	appendState(t, c, &es, 10)
	startAnchored(t, c, &es, an) // the key entry is 11
	appendState(t, c, &es, 9)
	if err := an.Extend(context.Background(), 20, es[19].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := c.VerifyAnchored(entriesOf(es), an)
	if err != nil || !r.OK || r.AnchorKeySeq != 11 || r.Anchored == nil || r.Anchored.Seq != 20 {
		t.Fatalf("intact log with its key entry: %+v %v", r, err)
	}

	cut := es[:15]
	if err := os.Remove(filepath.Join(dir, AnchorFile)); err != nil {
		t.Fatal(err)
	}
	r, err = c.VerifyAnchored(entriesOf(cut), an)
	if err != nil || r.OK || r.Problem == nil || r.Problem.Kind != AnchorMissing || r.Problem.Seq != 11 {
		t.Fatalf("cut log, anchor.json removed: %+v %v", r, err)
	}
	// Nothing that follows the log writes a new first anchor over the cut.
	if err := an.Extend(context.Background(), 15, cut[14].Hash, memLog(&cut), time.Now()); !errors.Is(err, ErrNoAnchor) {
		t.Fatalf("extend with no anchor: %v", err)
	}
	f := NewFollower(an, memLog(&cut), func(error) {})
	go f.Run()
	f.Notify(15, cut[14].Hash)
	f.Close()
	if _, ok, _ := an.Read(); ok {
		t.Fatal("the follower wrote a first anchor over a log whose anchor was removed")
	}

	// The whole directory removed: a new key comes with the next open.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	an2, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.VerifyAnchored(entriesOf(cut), an2)
	if err != nil || r.OK || r.Problem == nil || r.Problem.Kind != AnchorMissing {
		t.Fatalf("cut log, anchor directory removed: %+v %v", r, err)
	}
	// ... and anchored afresh at the cut head with that new key.
	if err := an2.Reset(context.Background(), 15, cut[14].Hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err = c.VerifyAnchored(entriesOf(cut), an2)
	if err != nil || r.OK || r.Problem == nil || r.Problem.Kind != AnchorReplaced || r.Problem.Seq != 11 {
		t.Fatalf("cut log, anchor directory replaced: %+v %v", r, err)
	}
	// Recording the new key (what an accepted broken log does) verifies.
	rec, _ := an2.KeyRecord()
	appendRec(t, c, &cut, rec)
	if err := an2.Extend(context.Background(), 16, cut[15].Hash, memLog(&cut), time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(cut), an2); err != nil || !r.OK || r.AnchorKeySeq != 16 {
		t.Fatalf("after the new key was recorded: %+v %v", r, err)
	}
}

// TestAnchorKeyCrashWindows: a start that dies at any step of anchoring
// and recording the key leaves a log that verifies.
func TestAnchorKeyCrashWindows(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{0, 5} { // a first start and an upgrade
		c := NewChain([]byte("0123456789abcdef"))
		an, err := OpenAnchors(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var es []Entry
		appendState(t, c, &es, n)
		if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || r.Anchored != nil {
			t.Fatalf("%d entries, never anchored: %+v %v", n, r, err)
		}
		// Step 1: anchor the head (for an empty log, seq 0 and genesis).
		head := Genesis
		if n > 0 {
			head = es[n-1].Hash
		}
		if err := an.Advance(ctx, int64(n), head, memLog(&es), time.Now()); err != nil {
			t.Fatal(err)
		}
		if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || r.Anchored == nil || r.Anchored.Seq != int64(n) {
			t.Fatalf("%d entries, died after anchoring: %+v %v", n, r, err)
		}
		// Step 2: record the key; the process dies before the anchor moves.
		rec, _ := an.KeyRecord()
		appendRec(t, c, &es, rec)
		if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || r.AnchorKeySeq != int64(n+1) {
			t.Fatalf("%d entries, died after recording the key: %+v %v", n, r, err)
		}
		// Step 3: the anchor moves over it, from an anchor at seq 0 too.
		if err := an.Extend(ctx, int64(n+1), es[n].Hash, memLog(&es), time.Now()); err != nil {
			t.Fatalf("%d entries: extend over the key entry: %v", n, err)
		}
		if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || r.Anchored.Seq != int64(n+1) {
			t.Fatalf("%d entries, anchored over the key entry: %+v %v", n, r, err)
		}
	}
}

// TestAnchorKeyWhileAnotherStarts: another server anchors the log and
// records its key between this verifier's read of the anchor (none yet)
// and its read of the entries; that is not a removed anchor.
func TestAnchorKeyWhileAnotherStarts(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	appendState(t, c, &es, 3)
	started := false
	read := func() ([]Entry, error) {
		if !started {
			started = true
			startAnchored(t, c, &es, an)
		}
		return es, nil
	}
	r, err := c.VerifyAnchored(read, an)
	if err != nil || !r.OK || r.AnchorKeySeq != 4 || r.Anchored == nil {
		t.Fatalf("verify beside a starting server: %+v %v", r, err)
	}
}

// TestAnchorUnprovenWithoutKey: a log cut back to before its first
// audit-anchored entry, with the anchor removed or replaced by one signing
// the cut head, cannot be told from a log never anchored. Verify cannot
// fail it without failing every log from before anchoring, but it must
// not vouch for it either: Unproven says what it could not show, and a
// log that names its key is not so marked.
func TestAnchorUnprovenWithoutKey(t *testing.T) {
	ctx := context.Background()
	c := NewChain([]byte("0123456789abcdef"))
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	appendState(t, c, &es, 5) // written before anchoring
	if err := an.Advance(ctx, 5, es[4].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	rec, _ := an.KeyRecord()
	appendRec(t, c, &es, rec)
	appendState(t, c, &es, 4)
	if err := an.Extend(ctx, 10, es[9].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(es), an); err != nil || !r.OK || r.AnchorKeySeq != 6 || r.Unproven != "" {
		t.Fatalf("a log that names its key: %+v %v", r, err)
	}
	cut := append([]Entry(nil), es[:5]...)
	// The anchor removed: no anchor, no key entry.
	empty, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(cut), empty); err != nil || !r.OK || r.Unproven == "" || !strings.Contains(r.Unproven, "cannot be shown") {
		t.Fatalf("cut before the key entry, anchor removed: %+v %v", r, err)
	}
	// The anchor replaced by the cutter's own, signing the cut head.
	own, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := own.Advance(ctx, 5, cut[4].Hash, memLog(&cut), time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.VerifyAnchored(entriesOf(cut), own); err != nil || !r.OK || r.Anchored == nil || r.Unproven == "" {
		t.Fatalf("cut before the key entry, anchor replaced: %+v %v", r, err)
	}
	// Without anchors (VerifyAudit) nothing is claimed about anchoring.
	if r := c.Verify(cut); !r.OK || r.Unproven != "" {
		t.Fatalf("plain verify: %+v", r)
	}
}
