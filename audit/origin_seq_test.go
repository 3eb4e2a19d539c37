package audit

import (
	"testing"
	"time"
)

// TestOriginHostileSeqAfterAcceptedGap: the search for where an unsound
// entry was written is bounded by the log's length, but its loop walked
// outward from the entry's own seq one position at a time, trying none of
// the positions past the log's end: an edited entry claiming seq 2^60,
// behind a gap that an acceptance sealed with audit.key passes, kept the
// verification (a server's start, each tenant's GET /v1/audit/verify, each
// on a core of its own) looping for ever. It now starts at the first
// position the log can hold and reports the entry modified at once.
func TestOriginHostileSeqAfterAcceptedGap(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	rec, err := NewRecord(KindState, "r1", map[string]any{"i": 3})
	if err != nil {
		t.Fatal(err)
	}
	e := c.Seal(&es[2], time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), rec)
	e.Seq = 1 << 60
	e.Payload = []byte(`{"i":99}`) // sound at no position
	gap := Problem{Seq: 4, Kind: Deleted, Detail: "entries 4 to 1152921504606846975 are missing",
		Found: &Found{Last: e.Seq - 1, Before: es[2].Hash, Entry: e.Seq, Hash: e.Hash, Content: contentHash(e)}}
	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: &gap})
	if err != nil {
		t.Fatal(err)
	}
	es = append(es, e)
	es = appendTo(t, c, es, acc)

	done := make(chan Result, 1)
	go func() { done <- c.Verify(es) }()
	select {
	case r := <-done:
		if r.OK || r.Problem == nil || r.Problem.Seq != e.Seq || r.Problem.Kind != Modified {
			t.Fatalf("got %+v, want entry %d modified", r.Problem, e.Seq)
		}
		if r.AcceptedCount != 1 {
			t.Errorf("the gap before it was not accepted: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify did not finish within 5 s on an edited entry claiming seq 2^60 behind an accepted gap")
	}

	// Past the largest seq, where seq+d wraps.
	for _, seq := range []int64{1 << 60, 1<<63 - 1} {
		far := e
		far.Seq = seq
		budget := int64(originBudget)
		finished := make(chan bool, 1)
		go func() {
			_, ok, searched, _ := c.origin(far, 11, &budget, func(string) (int64, bool, error) { return 0, false, nil })
			finished <- !ok && searched
		}()
		select {
		case ok := <-finished:
			if !ok {
				t.Errorf("seq %d: an entry sound nowhere was found, or not searched for", seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("origin of an entry claiming seq %d did not finish within 5 s", seq)
		}
	}
}
