package audit

import (
	"strings"
	"testing"
)

// TestUnkeyedLookupsBounded: at a break whose entry names a predecessor
// other than the entry before it, verification looks that predecessor up
// by hash, and a store answers by reading its whole log. Without the key
// forged acceptances pass every such break, and a log of n of them cost n
// whole reads. Lookups are bounded per verification; past the bound a
// break is reported without one, and says so.
func TestUnkeyedLookupsBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	const n = 2000
	es := chainOf(t, c, n+1)
	var accepts []Record
	for i := 1; i <= n; i++ {
		// Entry i+1 names a predecessor nobody wrote.
		es[i].PrevHash = strings.Repeat("f", 63) + string("0123456789abcdef"[i%16])
		if i%16 == 0 {
			es[i].PrevHash = strings.Repeat("e", 64)
		}
		p := &Problem{Seq: es[i].Seq, Kind: Deleted, Found: &Found{Before: es[i-1].Hash, Entry: es[i].Seq, Hash: es[i].Hash, Content: contentHash(es[i])}}
		rec, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p})
		if err != nil {
			t.Fatal(err)
		}
		accepts = append(accepts, rec)
	}
	log := appendTo(t, c, es, accepts...)
	src := &readCount{Source: SliceSource(log)}
	r, err := NewUnkeyedChain().VerifySource(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d breaks: %d lookups", n, src.lookups)
	if !r.OK || r.AcceptedCount != n {
		t.Fatalf("ok %v, %d accepted, %+v", r.OK, r.AcceptedCount, r.Problem)
	}
	if src.lookups > maxLookups {
		t.Errorf("%d lookups by hash (each a whole read of a store's log); want at most %d", src.lookups, maxLookups)
	}
	if d := r.Accepted[maxLookups+5].Problem.Detail; !strings.Contains(d, "not looked up") {
		t.Errorf("a break past the lookups says %q; want it to say it was not looked up", d)
	}
}
