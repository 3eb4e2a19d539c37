package slurm

import (
	"fmt"
	"testing"
)

// TestRetireLogAppendDuringCompactionRead: another backend on the state
// directory appends a retire to the log just after this one renamed its
// compaction into place; this backend still reads that retire, rather
// than taking the file's size as read.
func TestRetireLogAppendDuringCompactionRead(t *testing.T) {
	old := maxSeen
	maxSeen = 4
	t.Cleanup(func() { maxSeen = old })
	dir, state := t.TempDir(), t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	a, err := openRetireLog(dir, state, key, newSeenSet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openRetireLog(dir, state, key, newSeenSet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other := "9999\x00r99-1"
	fired := false
	retireLogCompacted = func() {
		if fired {
			return
		}
		fired = true
		if err := b.add("9999", "r99-1"); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { retireLogCompacted = nil })
	for i := 1; i <= 2*maxSeen+1; i++ {
		if err := a.add(fmt.Sprint(1000+i), fmt.Sprintf("r%d-1", i)); err != nil {
			t.Fatal(err)
		}
	}
	if !fired {
		t.Fatal("no compaction")
	}
	a.readOn()
	if !a.seen.has(other) {
		t.Errorf("retire another backend appended right after a compaction not read")
	}
}
