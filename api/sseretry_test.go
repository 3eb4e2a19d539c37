package api

import (
	"strings"
	"testing"
	"time"
)

// TestStreamRetryBounded: the wait a stream's retry field asks for before
// a broken stream is opened again is held to MinStreamRetry ..
// MaxStreamRetry. Before, a server could ask for 2^31-1 ms (about 24
// days), and the follow waited that long, or for 1 ms, and it reconnected
// in a loop.
func TestStreamRetryBounded(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  time.Duration
	}{
		{"2147483647", 5 * time.Minute},
		{"300001", 5 * time.Minute},
		{"300000", 5 * time.Minute},
		{"2000", 2 * time.Second},
		{"1000", time.Second},
		{"999", time.Second},
		{"1", time.Second},
	} {
		wait := 7 * time.Second
		rd := NewSSEReader(strings.NewReader("retry: " + tc.field + "\n\n"))
		if _, err := nextEvent(rd, &wait); err != nil {
			t.Fatalf("retry: %s: %v", tc.field, err)
		}
		if wait != tc.want {
			t.Errorf("retry: %s: the follow waits %s, want %s", tc.field, wait, tc.want)
		}
	}
	// A field that is no number leaves the wait as it was.
	wait := 7 * time.Second
	if _, err := nextEvent(NewSSEReader(strings.NewReader("retry: soon\ndata: x\n\n")), &wait); err != nil || wait != 7*time.Second {
		t.Errorf("retry: soon: %v, the follow waits %s, want 7s as before", err, wait)
	}
}
