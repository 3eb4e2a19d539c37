package audit

import (
	"testing"
	"time"
)

// An attacker who can write the database edits one entry and gives the
// last entry an enormous seq. Verify must still report the edit promptly:
// the search for where a broken entry was written must not be sized by a
// seq the attacker chose.
func TestVerifyHostileSeqBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 6)
	es[2].Payload = []byte(`{"i":99}`)
	es[5].Seq = 1 << 60
	done := make(chan Result, 1)
	go func() { done <- c.Verify(es) }()
	select {
	case got := <-done:
		if got.OK || got.Problem == nil || got.Problem.Seq != 3 || got.Problem.Kind != Modified {
			t.Fatalf("got %+v, want entry 3 modified", got.Problem)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify did not finish within 5 s on a log whose last entry claims seq 2^60")
	}
}
