package audit

import (
	"strings"
	"testing"
)

// TestAcceptancesAreBounded: verifying without the key counts every
// acceptance in the log, forged ones too, and held them all, whatever
// their number and size. Now at most maxAcceptances of at most
// maxAcceptancePayload bytes are held; a break that only an acceptance
// past those bounds would accept fails, saying why.
func TestAcceptancesAreBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
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
	// Whoever writes the database stores acceptances of breaks that are
	// not there, many and large, before the operator's.
	forged := make([]Record, maxAcceptances+500)
	for i := range forged {
		p := &Problem{Seq: int64(100 + i), Kind: Modified, Detail: strings.Repeat("x", 1000), Found: &Found{Entry: int64(100 + i), Hash: "h", Before: "b", Content: "c"}}
		if forged[i], err = NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p}); err != nil {
			t.Fatal(err)
		}
	}
	big, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: &Problem{Seq: 1, Kind: Modified, Detail: strings.Repeat("y", 1<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	flooded := appendTo(t, c, append([]Entry(nil), es...), big)
	flooded = appendTo(t, c, flooded, forged...)
	flooded = appendTo(t, c, flooded, genuine)

	u := NewUnkeyedChain()
	accepts, unread, err := u.acceptances(SliceSource(flooded))
	if err != nil {
		t.Fatal(err)
	}
	held, bytes := 0, 0
	for _, as := range accepts {
		held += len(as)
		for _, a := range as {
			bytes += len(a.p.Detail)
		}
	}
	if held > maxAcceptances || unread != len(forged)+2-maxAcceptances {
		t.Fatalf("acceptances held %d, unread %d; want at most %d held, %d unread", held, unread, maxAcceptances, len(forged)+2-maxAcceptances)
	}
	if bytes != 0 {
		t.Errorf("acceptances hold %d bytes of details no check reads", bytes)
	}
	if r := u.Verify(flooded); r.OK || r.Problem.Seq != 3 || !strings.Contains(r.Problem.Detail, "were not read") {
		t.Fatalf("a break accepted only past the bounds: %+v", r.Problem)
	}
	// The operator's acceptance alone still accepts it.
	alone := appendTo(t, c, append([]Entry(nil), es...), genuine)
	if r := u.Verify(alone); !r.OK || len(r.Accepted) != 1 {
		t.Fatalf("the accepted log: %+v", r)
	}
}
