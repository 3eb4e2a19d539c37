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
