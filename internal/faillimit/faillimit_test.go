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
	if n := len(l.by); n > maxSources || len(l.fullest) != n {
		t.Errorf("%d sources remembered, want at most %d", n, maxSources)
	}
	if got := Source("192.0.2.7:40112"); got != "192.0.2.7" {
		t.Errorf("Source = %q", got)
	}
	for addr, want := range map[string]string{
		"[2001:db8::1]:443":        "2001:db8::/64",
		"[2001:db8:0:0:ffff::9]:1": "2001:db8::/64",
		"[2001:db8:0:1::1]:443":    "2001:db8:0:1::/64",
		"[fe80::1%eth0]:443":       "fe80::/64",
		"[::ffff:192.0.2.7]:40112": "192.0.2.7",
		"192.0.2.8":                "192.0.2.8",
		"@":                        "@",
	} {
		if got := Source(addr); got != want {
			t.Errorf("Source(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestLimiterKeepsBlockedSources: a source that used its burst stays
// blocked however many other sources fail meanwhile (a full table was
// emptied at 4,096 sources, so an abuser with a few thousand addresses, or
// a busy server's ordinary failures, reset every blocked bucket), and the
// table stays bounded.
func TestLimiterKeepsBlockedSources(t *testing.T) {
	l := New(20, 60)
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for range 60 {
		l.Failed("198.51.100.9", t0)
	}
	if !l.Blocked("198.51.100.9", t0) {
		t.Fatal("not blocked after its burst")
	}
	for i := range 5000 {
		l.Failed(fmt.Sprintf("10.2.%d.%d", i/256, i%256), t0.Add(time.Duration(i)*time.Microsecond))
	}
	if !l.Blocked("198.51.100.9", t0.Add(5*time.Millisecond)) {
		t.Error("a blocked source was let in again after 5,000 other sources failed once")
	}
	if n := len(l.by); n > maxSources || len(l.fullest) != n {
		t.Errorf("%d sources remembered (%d ordered), want at most %d", n, len(l.fullest), maxSources)
	}
}

// TestLimiterKeysIPv6By64: the addresses of one IPv6 /64 share a bucket,
// so a host given a /64 cannot fail from a fresh address each time; the
// next /64 has its own.
func TestLimiterKeysIPv6By64(t *testing.T) {
	l := New(20, 60)
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for i := range 60 {
		l.Failed(Source(fmt.Sprintf("[2001:db8:0:7::%x]:443", i+1)), t0)
	}
	if !l.Blocked(Source("[2001:db8:0:7:abcd::1]:50000"), t0) {
		t.Error("another address of the /64 that failed 60 times is not blocked")
	}
	if l.Blocked(Source("[2001:db8:0:8::1]:443"), t0) {
		t.Error("an address of the next /64 is blocked")
	}
}
