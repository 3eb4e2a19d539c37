package slurm

import (
	"os"
	"path/filepath"
	"testing"
)

// SetMaxLaterRecords sets maxLaterRecords to n for the test.
func SetMaxLaterRecords(t testing.TB, n int) int {
	old := maxLaterRecords
	maxLaterRecords = n
	t.Cleanup(func() { maxLaterRecords = old })
	return n
}

// SetServerUID makes the backend take uid as its own user for the test.
func SetServerUID(t testing.TB, uid int) {
	old := serverUID
	serverUID = func() int { return uid }
	t.Cleanup(func() { serverUID = old })
}

// WriteRecord writes the record rel (handles/ID, ended/ID,
// jobs/KEY/jobid, jobs/KEY/cancelled) of stateDir holding value, signed as a backend of
// stateDir given no key signs it (DefaultRecordKeyFile).
func WriteRecord(t testing.TB, stateDir, rel, value string) {
	t.Helper()
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := newRecords(abs)
	if err != nil {
		t.Fatal(err)
	}
	if rec.seal, err = newSealer(options{}, abs); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(abs, rel)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := rec.writeRecord(rel, value); err != nil {
		t.Fatal(err)
	}
}

// RecordAndRetire records job id as the job of attempt key in b's state
// directory, as Submit does, and retires the record, as Clean does once
// the job ended. It returns the signed record handles/ID as it was
// before the retire (a copy a workload can keep).
func RecordAndRetire(t testing.TB, b *Slurm, key, id string) []byte {
	t.Helper()
	if err := b.rec.record(key, id); err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(filepath.Join(b.rec.dir, "handles", id))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.rec.retire(id, key); err != nil {
		t.Fatal(err)
	}
	return kept
}

// MoveAside moves the directory found where record rel of b's state
// directory goes aside, as a write of the record does.
func MoveAside(t testing.TB, b *Slurm, rel string) {
	t.Helper()
	if !b.rec.moveAside(rel) {
		t.Fatalf("%s not moved aside", rel)
	}
}
