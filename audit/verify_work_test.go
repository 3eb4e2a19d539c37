package audit

import (
	"strings"
	"testing"
)

// readCount is a Source that counts the entries its reads deliver and
// the lookups by hash it answers, each of which a store answers by
// reading its whole log (the table has no index on hash).
type readCount struct {
	Source
	reads, lookups int64
}

func (s *readCount) Read(kind string, fn func([]Entry) error) error {
	return s.Source.Read(kind, func(page []Entry) error {
		s.reads += int64(len(page))
		return fn(page)
	})
}

func (s *readCount) SeqOf(hash string) (int64, bool, error) {
	s.lookups++
	return s.Source.SeqOf(hash)
}

// gapsAccepted is a log of n gaps (every second entry deleted), each
// accepted by an entry appended after them, as whoever writes the
// database can write them without the key.
func gapsAccepted(t *testing.T, c *Chain, n int) []Entry {
	t.Helper()
	es := chainOf(t, c, 2*n+2)
	var kept []Entry
	var accepts []Record
	for i, e := range es {
		if e.Seq%2 == 0 && e.Seq <= int64(2*n) {
			p := &Problem{Seq: e.Seq, Kind: Deleted, Found: &Found{Last: e.Seq, Before: es[i-1].Hash, Entry: e.Seq + 1, Hash: es[i+1].Hash, Content: contentHash(es[i+1])}}
			rec, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p})
			if err != nil {
				t.Fatal(err)
			}
			accepts = append(accepts, rec)
			continue
		}
		kept = append(kept, e)
	}
	return appendTo(t, c, kept, accepts...)
}

// TestUnkeyedAcceptancesReadBounded: without the key every acceptance
// counts, forged ones too, and a verification holds maxAcceptances of
// them at a time, reading them again from the log when a break falls past
// those held. A log of 20,000 breaks, each accepted, had them read 20
// times over (about 410,000 entries read: breaks squared over 1,024),
// and each read of them is a read of the whole table. A verification now
// reads them at most maxAcceptancePasses times; a break whose acceptances
// it would have had to read again fails, saying so.
func TestUnkeyedAcceptancesReadBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	const n = 20000
	log := gapsAccepted(t, c, n)
	src := &readCount{Source: SliceSource(log)}
	r, err := NewUnkeyedChain().VerifySource(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d breaks accepted: %d entries read in all (%d of them acceptances), %d lookups", n, src.reads, src.reads-int64(len(log)), src.lookups)
	if limit := int64(len(log)) + maxAcceptancePasses*n; src.reads > limit {
		t.Errorf("read %d entries of a log of %d holding %d acceptances; want at most %d (the log once, its acceptances %d times)", src.reads, len(log), n, limit, maxAcceptancePasses)
	}
	held := int64(maxAcceptancePasses * maxAcceptances)
	if r.OK || r.Problem == nil || r.Problem.Kind != Deleted || r.AcceptedCount != held || !strings.Contains(r.Problem.Detail, "acceptances were not read") {
		t.Fatalf("ok %v, %d accepted, problem %+v; want the break after the %d accepted to fail, saying its acceptances were not read", r.OK, r.AcceptedCount, r.Problem, held)
	}
	if want := int64(2*held + 2); r.Problem.Seq != want {
		t.Errorf("failed at entry %d, want %d", r.Problem.Seq, want)
	}

	// A log whose breaks fit in the passes still verifies, keyed or not.
	small := gapsAccepted(t, c, 3*maxAcceptances)
	for _, ch := range []*Chain{c, NewUnkeyedChain()} {
		if r := ch.Verify(small); !r.OK || r.AcceptedCount != 3*maxAcceptances {
			t.Fatalf("%d accepted breaks (unkeyed %v): ok %v, %d accepted, %+v", 3*maxAcceptances, ch.unkeyed, r.OK, r.AcceptedCount, r.Problem)
		}
	}
}

// TestSameBreakAcceptancesReadBounded: more acceptances of one break than
// a verification holds are matched as they are read, one read of every
// acceptance in the log for that break alone. Many breaks each named by
// more than maxAcceptances forged acceptances had the log read once per
// break; those reads count toward the same bound.
func TestSameBreakAcceptancesReadBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	const breaks = 12
	es := chainOf(t, c, 2*breaks+2)
	var kept []Entry
	var accepts []Record
	for i, e := range es {
		if e.Seq%2 == 0 && e.Seq <= int64(2*breaks) {
			p := &Problem{Seq: e.Seq, Kind: Deleted, Found: &Found{Last: e.Seq, Before: es[i-1].Hash, Entry: e.Seq + 1, Hash: es[i+1].Hash, Content: contentHash(es[i+1])}}
			for range maxAcceptances + 1 {
				rec, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p})
				if err != nil {
					t.Fatal(err)
				}
				accepts = append(accepts, rec)
			}
			continue
		}
		kept = append(kept, e)
	}
	log := appendTo(t, c, kept, accepts...)
	src := &readCount{Source: SliceSource(log)}
	r, err := NewUnkeyedChain().VerifySource(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d breaks of %d acceptances each: %d entries read", breaks, maxAcceptances+1, src.reads)
	if limit := int64(len(log)) + maxAcceptancePasses*int64(len(accepts)); src.reads > limit {
		t.Errorf("read %d entries; want at most %d", src.reads, limit)
	}
	if r.OK || !strings.Contains(r.Problem.Detail, "acceptances were not read") {
		t.Fatalf("ok %v, %d accepted, problem %+v", r.OK, r.AcceptedCount, r.Problem)
	}
}
