package kubernetes

import (
	"testing"
	"time"
)

// Completion indexes read as the Job controller writes them, and written
// back the same way as indexes are added in any order.
func TestIndexes(t *testing.T) {
	for _, c := range []struct {
		s  string
		n  int
		ok bool
	}{
		{"", 3, true}, {"0", 1, true}, {"0-2", 3, true}, {"1,3-5,7", 8, true},
		{"0-3", 3, false}, {"3-1", 9, false}, {"1,1", 9, false}, {"1-2,3", 9, false}, {"2,1", 9, false},
		{"-1", 9, false}, {"a", 9, false}, {"1,", 9, false}, {"1-", 9, false},
	} {
		rs, ok := parseIndexes(c.s, c.n)
		if ok != c.ok {
			t.Errorf("parseIndexes(%q, %d) ok = %v; want %v", c.s, c.n, ok, c.ok)
		}
		if ok && formatIndexes(rs) != c.s {
			t.Errorf("formatIndexes(parseIndexes(%q)) = %q", c.s, formatIndexes(rs))
		}
	}
	var rs []indexRange
	for _, i := range []int{5, 1, 3, 2, 9, 4, 0, 7, 8, 3} {
		rs = addIndex(rs, i)
	}
	if got := formatIndexes(rs); got != "0-5,7-9" {
		t.Errorf("indexes added = %q; want 0-5,7-9", got)
	}
	if rs = addIndex(rs, 6); formatIndexes(rs) != "0-9" || !hasIndex(rs, 6) || hasIndex(rs, 10) {
		t.Errorf("indexes = %q; want 0-9", formatIndexes(rs))
	}
	u := unionIndexes([]indexRange{{0, 3}, {8, 9}}, []indexRange{{4, 5}, {7, 7}})
	if got := formatIndexes(u); got != "0-5,7-9" {
		t.Errorf("union = %q; want 0-5,7-9", got)
	}
	for _, c := range []struct {
		r  indexRange
		ok bool
	}{{indexRange{0, 5}, true}, {indexRange{2, 4}, true}, {indexRange{7, 9}, true}, {indexRange{5, 7}, false}, {indexRange{6, 6}, false}, {indexRange{9, 10}, false}} {
		if coversIndexes(u, c.r) != c.ok {
			t.Errorf("coversIndexes(%v, %v) = %v; want %v", u, c.r, !c.ok, c.ok)
		}
	}
}

// A record keeps each index once, and the earliest pod's creation time;
// no index below maxIndexedCompletions is left off for the list's length:
// a list of them as long as the longest within a few bytes
// (scatteredIndexes) is kept whole, within maxSucceededIndexes.
func TestKeepIndexBound(t *testing.T) {
	var r record
	early := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !keepIndex(&r, 3, early.Add(time.Minute)) || !keepIndex(&r, 1, early) || keepIndex(&r, 3, early) {
		t.Fatalf("keepIndex of 3, 1, 3 again: %q", r.SucceededIndexes)
	}
	if r.SucceededIndexes != "1,3" || !r.SucceededIndexesMade.Equal(early) {
		t.Fatalf("record = %q made %v; want 1,3 made %v", r.SucceededIndexes, r.SucceededIndexesMade, early)
	}
	longest := scatteredIndexes(maxIndexedCompletions)
	last := longest[len(longest)-1]
	r.SucceededIndexes = formatIndexes(append(longest[:len(longest)-1:len(longest)-1], indexRange{last.lo, last.lo}))
	if !keepIndex(&r, last.hi, early) || r.SucceededIndexes != formatIndexes(longest) {
		t.Errorf("the last index of the longest list (%d bytes) was left off; want it kept", len(formatIndexes(longest)))
	}
	if len(r.SucceededIndexes) > maxSucceededIndexes {
		t.Errorf("list of %d bytes; want it within %d", len(r.SucceededIndexes), maxSucceededIndexes)
	}
}
