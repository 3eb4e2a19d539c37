package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestNewestBoundedByEntries: the checkpoint directory is the workload's,
// and the agent looks for its newest checkpoint every poll. One of many
// entries (here 30,000) is read a batch at a time, keeping the newest
// only: the memory one look costs does not grow with the entries. It read
// the whole directory into a sorted list, tens of MiB at every poll for a
// million entries. Links, special files, hidden and temporary entries are
// still never the newest.
func TestNewestBoundedByEntries(t *testing.T) {
	dir := t.TempDir()
	const entries = 30000
	one := filepath.Join(t.TempDir(), "one")
	if err := os.WriteFile(one, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		if err := os.Link(one, filepath.Join(dir, fmt.Sprintf("junk-%08d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "step-200000"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".hidden-900000", "step-900001.tmp", "step-900002.partial"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "link-900003")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo-900004"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Of two with the same step, the first by name.
	if err := os.WriteFile(filepath.Join(dir, "ckpt-200000"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	name, step, ok := newest(dir)
	if !ok || name != "ckpt-200000" || step != 200000 {
		t.Fatalf("newest = %q, %d, %v; want ckpt-200000 at step 200000", name, step, ok)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	newest(dir)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("one look at %d entries: %d bytes allocated in %d allocations, %s", entries, allocated, after.Mallocs-before.Mallocs, took)
	if allocated > 256<<10 {
		t.Errorf("one look at %d entries allocated %d bytes; want it bounded (at most 256 KiB)", entries, allocated)
	}
}

// TestStepOf: a checkpoint's step is the last number in its name.
func TestStepOf(t *testing.T) {
	for name, want := range map[string]int64{"step-10": 10, "ckpt-12-step-34": 34, "a1b": 1, "007": 7, "step-9223372036854775807": 1<<63 - 1,
		"step": -1, "": -1, ".step-5": -1, "step-5.tmp": -1, "step-5.partial": -1, "step-9223372036854775808": -1, "step-99999999999999999999": -1} {
		got, ok := StepOf(name)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("StepOf(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}
