package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// memLog serves an anchor update's reads from a slice of entries.
func memLog(es *[]Entry) LogReader {
	return LogReader{
		HashAt: func(_ context.Context, seq int64) (string, bool, error) {
			if seq < 1 || seq > int64(len(*es)) {
				return "", false, nil
			}
			return (*es)[seq-1].Hash, true, nil
		},
		Acceptance: func(_ context.Context, after, through int64) (int64, bool, error) {
			for _, e := range *es {
				if e.Kind == KindBrokenAccepted && e.Seq > after && e.Seq <= through {
					return e.Seq, true, nil
				}
			}
			return 0, false, nil
		},
	}
}

func TestAnchorDetectsTruncation(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 20)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	if err := an.Advance(context.Background(), 20, es[19].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	// The attack of the report: delete from audit where seq > 16.
	cut := es[:16]
	plain := c.Verify(cut)
	if !plain.OK {
		t.Fatalf("the cut chain should verify on its own (that is the attack): %+v", plain)
	}
	r, err := c.VerifyAnchored(entriesOf(cut), an)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Problem == nil || r.Problem.Kind != Truncated || r.Problem.Seq != 17 {
		t.Fatalf("truncation not reported: %+v", r)
	}
	// The whole chain still verifies against its anchor.
	if r, _ := c.VerifyAnchored(entriesOf(es), an); !r.OK || r.Anchored == nil || r.Anchored.Seq != 20 {
		t.Errorf("intact chain: %+v", r)
	}
}

func TestAnchorRefusesToMoveBackOrOntoOtherHistory(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 10)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	if err := an.Advance(ctx, 10, es[9].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	// A lower head never moves the anchor.
	if err := an.Advance(ctx, 5, es[4].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := an.Read(); got.Seq != 10 {
		t.Errorf("anchor moved back to %d", got.Seq)
	}
	// Cut the tail, then append new entries past the old length: the anchored
	// entry is gone, so advancing must fail rather than bless the new history.
	other := chainOf(t, NewChain([]byte("another key 1234")), 12)
	err = an.Advance(ctx, 12, other[11].Hash, memLog(&other), now)
	var p *Problem
	if !errors.As(err, &p) || p.Kind != Diverged {
		t.Fatalf("advance onto a rewritten history: %v", err)
	}
	short := es[:8]
	err = an.Advance(ctx, 11, "x", memLog(&short), now)
	if !errors.As(err, &p) || p.Kind != Truncated {
		t.Fatalf("advance over a cut log: %v", err)
	}
}

func TestAnchorForgedOrMisplacedIsRefused(t *testing.T) {
	dir := t.TempDir()
	c := NewChain(nil)
	es := chainOf(t, c, 3)
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Advance(context.Background(), 3, es[2].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	// Editing the anchor file to a shorter log breaks its signature.
	path := filepath.Join(dir, AnchorFile)
	b, _ := os.ReadFile(path)
	forged := []byte(string(b[:len(b)-1]))
	forged = replaceOnce(forged, `"seq": 3`, `"seq": 2`)
	if err := os.WriteFile(path, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := an.Read(); err == nil {
		t.Fatal("a forged anchor was accepted")
	}
	if _, err := c.VerifyAnchored(entriesOf(es), an); err == nil {
		t.Fatal("verify accepted a forged anchor")
	}
	// A key file others can read is refused.
	os.Chmod(filepath.Join(dir, AnchorKeyFile), 0o644)
	if _, err := OpenAnchors(dir); err == nil {
		t.Fatal("a world-readable anchor key was accepted")
	}
}

func replaceOnce(b []byte, old, new string) []byte {
	s := string(b)
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return []byte(s[:i] + new + s[i+len(old):])
		}
	}
	return b
}

func TestTenantIsHashed(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	rec, _ := NewRecord(KindTransfer, "", map[string]int{"bytes": 1})
	rec.Tenant = "acme"
	e := c.Seal(nil, time.Now(), rec)
	if r := c.Verify([]Entry{e}); !r.OK {
		t.Fatalf("fresh entry: %+v", r)
	}
	e.Tenant = "other"
	if r := c.Verify([]Entry{e}); r.OK || r.Problem.Kind != Modified {
		t.Fatalf("moving an entry to another tenant was not detected: %+v", r)
	}
	// Entries written before tenants were hashed still verify.
	old := Entry{Seq: 1, PrevHash: Genesis, Time: e.Time, Kind: KindPlan, Payload: []byte(`{}`)}
	old.Hash = c.sum(old, 1)
	if r := c.Verify([]Entry{old}); !r.OK {
		t.Errorf("version 1 entry: %+v", r)
	}
	red := e.Redact()
	if red.Payload != nil || red.Kind != "" || red.RunID != "" || red.Tenant != "" || red.Hash != e.Hash {
		t.Errorf("redacted entry shows too much: %+v", red)
	}
}

func entriesOf(es []Entry) func() ([]Entry, error) {
	return func() ([]Entry, error) { return es, nil }
}

// TestVerifyWhileOthersAppend: another server appends and advances the
// anchor just after this verifier read the chain. The anchor it then
// holds covers entries its snapshot lacks; that is not a cut tail.
func TestVerifyWhileOthersAppend(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 20)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if err := an.Advance(ctx, 16, es[15].Hash, memLog(&es), now); err != nil {
		t.Fatal(err)
	}
	read := func() ([]Entry, error) {
		snapshot := es[:16]
		// The other server commits 17..20 and anchors them.
		if err := an.Advance(ctx, 20, es[19].Hash, memLog(&es), now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		return snapshot, nil
	}
	r, err := c.VerifyAnchored(read, an)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Anchored == nil || r.Anchored.Seq != 16 {
		t.Errorf("a chain read while another server appended: %+v", r)
	}
	// Read again: the chain reaches the new anchor.
	if r, _ := c.VerifyAnchored(entriesOf(es), an); !r.OK || r.Anchored.Seq != 20 {
		t.Errorf("after the append: %+v", r)
	}
}
