package run

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSweepWithoutAWaitHasNoNext: a left site whose store has not failed
// has no next try, and its record says none rather than a try in year 1.
func TestSweepWithoutAWaitHasNoNext(t *testing.T) {
	b, err := json.Marshal(Sweep{Site: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "next") {
		t.Errorf("a sweep with no wait: %s", b)
	}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b, err = json.Marshal(Sweep{Site: "alpha", Fails: 1, Next: at})
	if err != nil {
		t.Fatal(err)
	}
	var back Sweep
	if err := json.Unmarshal(b, &back); err != nil || !back.Next.Equal(at) {
		t.Errorf("a sweep with a wait: %s read back as %+v (%v)", b, back, err)
	}
}
