package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestAnchorOfAnotherKeyReadsReplacedBeforeCut: an anchor directory of
// another key than the log names, its anchor recording more entries than
// the log holds, read as a tail cut (intact) or a cut named by its own
// seq (beside a break), which an acceptance took for the log's own
// anchor. It reads replaced, named by the log's key entry, and the result
// carries the key the log names.
func TestAnchorOfAnotherKeyReadsReplacedBeforeCut(t *testing.T) {
	for _, broken := range []bool{false, true} {
		c := NewChain([]byte("0123456789abcdef"))
		var es []Entry
		appendState(t, c, &es, 5)
		an, err := OpenAnchors(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		startAnchored(t, c, &es, an)
		appendState(t, c, &es, 4)
		if broken {
			es[2].Payload = []byte(`{"i":99}`)
		}
		planted, err := OpenAnchors(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := planted.Reset(context.Background(), 20, strings.Repeat("ab", 32), time.Now()); err != nil {
			t.Fatal(err)
		}
		r, err := c.VerifyAnchored(entriesOf(es), planted)
		p := r.Problem
		if broken {
			p = r.AnchorProblem
		}
		if err != nil || r.OK || p == nil || p.Kind != AnchorReplaced || p.Seq != 6 || r.LogKey != an.Key() {
			t.Fatalf("broken %v: %+v (%+v) %v, want anchor-replaced at the key entry, 6, and the log's key", broken, r, p, err)
		}
	}
}

// TestRekey: a fresh key in place, the old key file and its anchor kept
// aside; the Anchors signs with the new key from then on.
func TestRekey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Reset(ctx, 0, Genesis, time.Now()); err != nil {
		t.Fatal(err)
	}
	again, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !an.Made() || again.Made() {
		t.Fatalf("Made: %v for the opener that made the key, %v for the next, want true, false", an.Made(), again.Made())
	}
	old := again.Key()
	if err := again.Rekey(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if again.Key() == old || !again.Made() {
		t.Fatalf("after Rekey: key %s (was %s), made %v", again.Key(), old, again.Made())
	}
	if _, ok, err := again.Read(); ok || err != nil {
		t.Fatalf("after Rekey the directory holds an anchor: %v %v, want none", ok, err)
	}
	for _, f := range []string{AnchorKeyFile, AnchorFile} {
		if m, _ := filepath.Glob(filepath.Join(dir, f+AsideSuffix+"*")); len(m) != 1 {
			t.Fatalf("%s kept aside: %v, want one", f, m)
		}
	}
	reopened, err := OpenAnchors(dir)
	if err != nil || reopened.Key() != again.Key() {
		t.Fatalf("reopened: %v %v, want the new key", reopened, err)
	}
	if err := again.Reset(ctx, 0, Genesis, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := reopened.Read(); !ok || err != nil {
		t.Fatalf("the anchor signed after Rekey: %v %v", ok, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, AnchorKeyFile)); err != nil || len(b) == 0 {
		t.Fatal(err)
	}
}

// TestRekeyStoppedMidwayLeavesAnAcceptableDirectory: a Rekey stopped
// between its steps (a crash, or a step that failed) leaves a directory
// that a verification reads as an anchor problem a start accepts, and
// that a Rekey then completes. It wrote the new key before moving the
// old key's anchor aside: stopped between them, the directory held the
// new key beside an anchor it could not verify, which every verification
// refused with an error, so no start could accept it.
func TestRekeyStoppedMidwayLeavesAnAcceptableDirectory(t *testing.T) {
	ctx := context.Background()
	failed := errors.New("stopped here")
	for _, step := range []string{"rename", "write"} {
		c := NewChain([]byte("0123456789abcdef"))
		var es []Entry
		appendState(t, c, &es, 5)
		an, err := OpenAnchors(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		startAnchored(t, c, &es, an)
		dir := t.TempDir()
		planted, err := OpenAnchors(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := planted.Reset(ctx, 20, strings.Repeat("ab", 32), time.Now()); err != nil {
			t.Fatal(err)
		}
		func() {
			switch step {
			case "rename":
				rekeyRename = func(string, string) error { return failed }
				defer func() { rekeyRename = os.Rename }()
			case "write":
				rekeyWrite = func(string, []byte, os.FileMode) error { return failed }
				defer func() { rekeyWrite = atomicfile.WriteFile }()
			}
			if err := planted.Rekey(ctx, time.Now()); !errors.Is(err, failed) {
				t.Fatalf("%s: Rekey: %v, want it stopped", step, err)
			}
		}()
		reopened, err := OpenAnchors(dir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.VerifyAnchored(entriesOf(es), reopened)
		if err != nil || r.OK || r.Problem == nil || (r.Problem.Kind != AnchorReplaced && r.Problem.Kind != AnchorMissing) || r.LogKey != an.Key() {
			t.Fatalf("stopped at %s: %+v (%+v) %v, want an anchor problem a start accepts", step, r, r.Problem, err)
		}
		if err := reopened.Rekey(ctx, time.Now()); err != nil {
			t.Fatalf("stopped at %s, then Rekey: %v", step, err)
		}
		if _, ok, err := reopened.Read(); ok || err != nil {
			t.Fatalf("stopped at %s, then Rekey: the directory holds an anchor: %v %v, want none", step, ok, err)
		}
	}
}

// TestRefreshFindsAnotherProcesssKey: two processes open a new anchor
// directory together, one making the key and the other finding it; the
// finder, anchoring first, gives the directory a fresh key. The maker
// read its key once, at open, and went on signing with it and counting it
// its own: its anchors no longer verified with the directory's key.
// Refreshed, it signs with the directory's key, not counted as made; a
// key file replaced since the open is read the same way.
func TestRefreshFindsAnotherProcesssKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	maker, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	finder, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !maker.Made() || finder.Made() {
		t.Fatalf("Made: %v, %v", maker.Made(), finder.Made())
	}
	if err := finder.Rekey(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := finder.Reset(ctx, 0, Genesis, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := maker.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if maker.Key() != finder.Key() || maker.Made() {
		t.Fatalf("refreshed: key %s made %v, want the directory's %s, not made", maker.Key(), maker.Made(), finder.Key())
	}
	if _, ok, err := maker.Read(); !ok || err != nil {
		t.Fatalf("the refreshed reads the anchor: %v %v", ok, err)
	}
	// Refreshed with nothing changed, a key made stays made.
	own, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := own.Key()
	if err := own.Refresh(ctx); err != nil || own.Key() != key || !own.Made() {
		t.Fatalf("refreshed unchanged: %v %s %v", err, own.Key(), own.Made())
	}
}
