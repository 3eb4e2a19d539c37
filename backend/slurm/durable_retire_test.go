package slurm

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestRetireAndIntentRemovalsAreSynced: a retire's rename of a job's
// record (handles/ID to ended/ID, or, signed, its removal from handles
// once written under ended) and the removal of a submit's or a sweep's
// intent were not followed by an fsync of the directories they changed:
// a crash could bring the live record back (listed again by each
// capacity poll) or an intent (the next submit, or Clean, then acted on
// one refused outright). Each such directory is now synced after.
func TestRetireAndIntentRemovalsAreSynced(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	atomicfile.SyncHook = func(dir string) { mu.Lock(); synced = append(synced, dir); mu.Unlock() }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	check := func(what string, do func() error, dirs ...string) {
		t.Helper()
		mu.Lock()
		synced = nil
		mu.Unlock()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, d := range dirs {
			if !slices.Contains(synced, d) {
				t.Errorf("%s: %s not synced after (synced %q)", what, d, synced)
			}
		}
	}
	for _, signed := range []bool{false, true} {
		state := filepath.Join(t.TempDir(), "state")
		rec, err := newRecords(state)
		if err != nil {
			t.Fatal(err)
		}
		if signed {
			if rec.seal, err = newSealer(options{}, state); err != nil {
				t.Fatal(err)
			}
		}
		if err := rec.record("r1-1", "777"); err != nil {
			t.Fatal(err)
		}
		what := map[bool]string{false: "unsigned", true: "signed"}[signed]
		check(what+" retire", func() error { return rec.retire("777", "r1-1") },
			filepath.Join(state, "ended"), filepath.Join(state, "handles"))
		if _, err := os.Lstat(filepath.Join(state, "handles", "777")); !os.IsNotExist(err) {
			t.Errorf("%s retire left handles/777 (%v)", what, err)
		}
		job := filepath.Join(state, "jobs", "r1-1")
		if err := rec.markIntent("r1-1"); err != nil {
			t.Fatal(err)
		}
		check(what+" clearIntent", func() error { return rec.clearIntent("r1-1") }, job)
		if _, err := rec.markSweepIntent("r1-1"); err != nil {
			t.Fatal(err)
		}
		check(what+" clearSweepIntent", func() error { return rec.clearSweepIntent("r1-1") }, job)
	}
}

// BenchmarkRetire measures a retire of a job's record (handles/ID to
// ended/ID): a rename, unsigned (over slurmrestd), or, signed, the
// record written under ended and removed from handles. Each loop puts
// the live record back by a plain write first.
func BenchmarkRetire(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		if signed {
			name = "signed"
		}
		b.Run(name, func(b *testing.B) {
			state := b.TempDir()
			rec, err := newRecords(state)
			if err != nil {
				b.Fatal(err)
			}
			if signed {
				if rec.seal, err = newSealer(options{}, state); err != nil {
					b.Fatal(err)
				}
			}
			live := filepath.Join(state, "handles", "777")
			data := rec.sealed(filepath.Join("handles", "777"), "r1-1")
			for b.Loop() {
				if err := os.WriteFile(live, data, 0o644); err != nil {
					b.Fatal(err)
				}
				if err := rec.retire("777", "r1-1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClearIntent measures a submit's intent written and removed,
// as a submit the scheduler refuses outright does.
func BenchmarkClearIntent(b *testing.B) {
	state := b.TempDir()
	rec, err := newRecords(state)
	if err != nil {
		b.Fatal(err)
	}
	if err := rec.ensureJobDir("r1-1"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rec.markIntent("r1-1"); err != nil {
			b.Fatal(err)
		}
		if err := rec.clearIntent("r1-1"); err != nil {
			b.Fatal(err)
		}
	}
}
