package audit

import (
	"strings"
	"testing"
)

// flooded is es with entry 3 deleted, then acceptances of breaks that
// are not there (n of them, forged without the key as anyone who writes
// the database can, each of their entry and kind when sameBreak, else
// of entries 100 on), then the operator's acceptance of the real one.
func flooded(t *testing.T, c *Chain, n int, sameBreak bool) (broken, log []Entry) {
	t.Helper()
	es := chainOf(t, c, 5)
	es = append(es[:2:2], es[3:]...) // entry 3 deleted
	r := NewUnkeyedChain().Verify(es)
	if r.OK || r.Problem.Kind != Deleted || r.Problem.Seq != 3 {
		t.Fatalf("the break: %+v", r)
	}
	genuine, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem, By: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	forged := make([]Record, n)
	for i := range forged {
		p := &Problem{Seq: int64(100 + i), Kind: Modified, Detail: strings.Repeat("x", 1000), Found: &Found{Entry: int64(100 + i), Hash: "h", Before: "b", Content: "c"}}
		if sameBreak {
			f := *r.Problem.Found
			f.Content = strings.Repeat("0", 64)
			p = &Problem{Seq: r.Problem.Seq, Kind: r.Problem.Kind, Found: &f}
		}
		if forged[i], err = NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p}); err != nil {
			t.Fatal(err)
		}
	}
	big, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: &Problem{Seq: 1, Kind: Modified, Detail: strings.Repeat("y", 1<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	log = appendTo(t, c, append([]Entry(nil), es...), big)
	log = appendTo(t, c, log, forged...)
	log = appendTo(t, c, log, genuine)
	return es, log
}

// TestAcceptancesAreBounded: verifying without the key counts every
// acceptance in the log, forged ones too. Holding all of them let
// whoever writes the database fill memory; holding the first 1024 and
// dropping the rest made a break accepted by a later one fail. Every
// acceptance counts now, while at most maxAcceptances of at most
// maxAcceptancePayload bytes are held at once.
func TestAcceptancesAreBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	for _, same := range []bool{false, true} {
		_, log := flooded(t, c, 3*maxAcceptances+17, same)
		u := NewUnkeyedChain()
		r := u.Verify(log)
		if !r.OK || r.AcceptedCount != 1 || len(r.Accepted) != 1 || r.Accepted[0].At != log[len(log)-1].Seq {
			t.Fatalf("a break the last of %d acceptances accepts (all of the same break: %v): %+v", 3*maxAcceptances+19, same, r)
		}
		x := &acceptIndex{c: u, src: SliceSource(log)}
		if err := x.load(acceptKey{3, Deleted}); err != nil {
			t.Fatal(err)
		}
		bytes := 0
		for _, a := range x.win {
			bytes += len(a.p.Detail)
		}
		if len(x.win) > maxAcceptances || bytes != 0 || x.oversized != 1 {
			t.Fatalf("acceptances held %d with %d bytes of details, %d oversized; want at most %d held, no details, 1 oversized", len(x.win), bytes, x.oversized, maxAcceptances)
		}
	}
	// Without the operator's, the break fails, saying why.
	es, log := flooded(t, c, 10, false)
	r := NewUnkeyedChain().Verify(log[:len(log)-1])
	if r.OK || r.Problem.Seq != 3 || !strings.Contains(r.Problem.Detail, "1 "+KindBrokenAccepted+" entries were not read (over") {
		t.Fatalf("a break no acceptance accepts: %+v", r.Problem)
	}
	// The operator's acceptance alone accepts it.
	alone := appendTo(t, c, append([]Entry(nil), es...), Record{Kind: KindBrokenAccepted, Payload: log[len(log)-1].Payload})
	if r := NewUnkeyedChain().Verify(alone); !r.OK || len(r.Accepted) != 1 {
		t.Fatalf("the accepted log: %+v", r)
	}
}

// TestManyAcceptedBreaksCounted: a log with more accepted breaks than
// maxAcceptances verifies (each break's acceptance is read, past the
// first maxAcceptances too), and its result counts them all while listing
// only the first maxAcceptedListed.
func TestManyAcceptedBreaksCounted(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	k := max(maxAcceptances, maxAcceptedListed) + 50
	es := chainOf(t, c, 2*k+2)
	var kept []Entry
	var accepts []Record
	for i, e := range es {
		if e.Seq%2 == 0 && e.Seq <= int64(2*k) {
			// Entry e deleted: the gap the check finds.
			p := &Problem{Seq: e.Seq, Kind: Deleted, Found: &Found{Last: e.Seq, Before: es[i-1].Hash, Entry: e.Seq + 1, Hash: es[i+1].Hash, Content: contentHash(es[i+1])}}
			rec, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p, By: "operator"})
			if err != nil {
				t.Fatal(err)
			}
			accepts = append(accepts, rec)
			continue
		}
		kept = append(kept, e)
	}
	log := appendTo(t, c, kept, accepts...)
	r := NewUnkeyedChain().Verify(log)
	if !r.OK || r.AcceptedCount != int64(k) || len(r.Accepted) != maxAcceptedListed {
		t.Fatalf("a log of %d accepted breaks: ok %v, problem %+v, %d accepted counted, %d listed; want %d counted, %d listed", k, r.OK, r.Problem, r.AcceptedCount, len(r.Accepted), k, maxAcceptedListed)
	}
	if last := r.Accepted[len(r.Accepted)-1]; last.Problem.Seq != int64(2*maxAcceptedListed) {
		t.Fatalf("the last break listed is at entry %d; want the %dth, at %d", last.Problem.Seq, maxAcceptedListed, 2*maxAcceptedListed)
	}
	// Keyed, the same.
	if r := c.Verify(log); !r.OK || r.AcceptedCount != int64(k) {
		t.Fatalf("keyed: ok %v, problem %+v, %d accepted", r.OK, r.Problem, r.AcceptedCount)
	}
}
