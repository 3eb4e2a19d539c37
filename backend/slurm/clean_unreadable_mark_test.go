package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
)

// TestCleanKeepsTheWorkDirOfAJobWhoseMarksCannotBeLookedAt: once
// slurmctld had forgotten a job, Clean took a start mark or exit code it
// could not look at (the job's directory replaced by a link out, one the
// server may not search, an I/O error) as absent, read the job as one
// that never started, and removed its working directory, though the job
// may still run. Such a mark now reads as one that may be there: with no
// record of where the job ran, the directory stays.
func TestCleanKeepsTheWorkDirOfAJobWhoseMarksCannotBeLookedAt(t *testing.T) {
	dir := t.TempDir()
	state, outside := filepath.Join(dir, "state"), filepath.Join(dir, "outside")
	b := fakeSlurm(t, state, map[string]string{
		"squeue": "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
	})
	slurm.WriteRecord(t, state, filepath.Join("handles", "777"), "r1-1")
	keep := filepath.Join(state, "work", "r1-1", "checkpoint")
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("the running job's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The job's directory, its marks in it, replaced by a link out.
	if err := os.MkdirAll(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	jobDir := filepath.Join(state, "jobs", "r1-1")
	if err := os.RemoveAll(jobDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(jobDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, jobDir); err != nil {
		t.Fatal(err)
	}
	b.Clean(context.Background(), "777") //nolint:errcheck // what matters is what it removed
	if data, err := os.ReadFile(keep); err != nil || string(data) != "the running job's\n" {
		t.Errorf("Clean of a forgotten job whose marks cannot be looked at removed its working directory: %q, %v", data, err)
	}
}
