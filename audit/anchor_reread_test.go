package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAnchorUnreadableOnSecondReadIsAnError: a verification that found no
// anchor reads the directory again (a server starting beside it writes the
// anchor before its key entry). When that second read failed (the anchor
// there but not readable as one), the log was reported as its anchor
// removed, AnchorMissing, sending the operator after an attacker rather
// than a file it cannot read; it is the read's error now, as on the first.
func TestAnchorUnreadableOnSecondReadIsAnError(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	appendState(t, c, &es, 3)
	startAnchored(t, c, &es, an)
	if err := os.Remove(filepath.Join(dir, AnchorFile)); err != nil {
		t.Fatal(err)
	}
	snap := func(fn func(Source) error) error {
		// Between the first read of the anchor and the second, something
		// not readable as an anchor takes its place.
		if err := os.Mkdir(filepath.Join(dir, AnchorFile), 0o700); err != nil && !os.IsExist(err) {
			return err
		}
		return fn(SliceSource(es))
	}
	r, err := c.VerifySnapshot(snap, an)
	if err == nil {
		t.Fatalf("anchor unreadable on the second read: no error, result %+v", r.Problem)
	}
}
