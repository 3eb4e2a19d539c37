package faillimit

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiter: a source is blocked once it failed its burst, is let in
// again as its bucket refills, and other sources are not held back by it;
// the sources remembered stay bounded.
func TestLimiter(t *testing.T) {
	l := New(2, 3)
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if l.Blocked("10.0.0.1", t0) {
			t.Fatalf("blocked after %d failures, want 3 allowed", i)
		}
		l.Failed("10.0.0.1", t0)
	}
	if !l.Blocked("10.0.0.1", t0) {
		t.Fatal("not blocked after its burst of failures")
	}
	if l.Blocked("10.0.0.2", t0) {
		t.Error("another source is blocked")
	}
	if l.Blocked("10.0.0.1", t0.Add(600*time.Millisecond)) {
		t.Error("still blocked after its bucket refilled by one")
	}
	for i := 0; i < 3*maxSources; i++ {
		l.Failed(fmt.Sprintf("10.1.%d.%d", i/256, i%256), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.by); n > maxSources {
		t.Errorf("%d sources remembered, want at most %d", n, maxSources)
	}
	if got := Source("192.0.2.7:40112"); got != "192.0.2.7" {
		t.Errorf("Source = %q", got)
	}
	if got := Source("[2001:db8::1]:443"); got != "2001:db8::1" {
		t.Errorf("Source = %q", got)
	}
}
