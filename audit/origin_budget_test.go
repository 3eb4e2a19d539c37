package audit

import (
	"strings"
	"testing"
	"time"
)

// TestOriginBudgetIsPerVerification: a log with several large entries
// edited, each break accepted, had each break's search for where its entry
// was written hash up to originBudget: three breaks, three times the
// budget, at every verification (each server start, each tenant's
// request), and whoever writes the database with the key can seal and
// accept as many breaks as they like. The budget now holds for the whole
// verification, and the log still verifies with its breaks accepted.
func TestOriginBudgetIsPerVerification(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	const n = 300
	broken := []int{50, 150, 250} // indexes of the edited entries
	isBroken := map[int]bool{}
	for _, i := range broken {
		isBroken[i] = true
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var es []Entry
	for i := 0; i < n; i++ {
		payload := map[string]any{"i": i}
		if isBroken[i] {
			payload["objects"] = strings.Repeat("c", 4<<20)
		}
		rec, err := NewRecord(KindIntentForTest, "", payload)
		if err != nil {
			t.Fatal(err)
		}
		var prev *Entry
		if len(es) > 0 {
			prev = &es[len(es)-1]
		}
		es = append(es, c.Seal(prev, t0.Add(time.Duration(i)*time.Millisecond), rec))
	}
	var accs []Record
	for _, i := range broken {
		es[i].Payload = []byte(strings.Replace(string(es[i].Payload), "ccc", "ddd", 1))
		p := &Problem{Seq: es[i].Seq, Kind: Modified, Detail: "its contents no longer match its hash",
			Found: &Found{Before: es[i-1].Hash, Entry: es[i].Seq, Hash: es[i].Hash, Content: contentHash(es[i])}}
		rec, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: p, By: "operator"})
		if err != nil {
			t.Fatal(err)
		}
		accs = append(accs, rec)
	}
	es = appendTo(t, c, es, accs...)

	var hashed int64
	originHashed = func(n int64) { hashed += n }
	defer func() { originHashed = nil }()
	r := c.Verify(es)
	if !r.OK || r.AcceptedCount != int64(len(broken)) {
		t.Fatalf("the log with its breaks accepted: %+v", r)
	}
	if hashed > originBudget {
		t.Errorf("one verification hashed %d MiB looking for where broken entries were written; the budget is %d MiB", hashed>>20, originBudget>>20)
	}
	for _, a := range r.Accepted[1:] {
		if !strings.Contains(a.Problem.Detail, "was not searched for in full") {
			t.Errorf("break at %d: detail %q does not say its search was cut short", a.Problem.Seq, a.Problem.Detail)
		}
	}
}
