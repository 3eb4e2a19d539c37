package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestForgottenJobExitCodeNotKnown: a forgotten job's exit code file
// that was a link, a FIFO, a directory, one too large or one holding no
// number made its Status fail, every poll, for good: only the job writes
// that file, in a directory its workload may write too. It now reads as
// an exit code not known: the job lost, with a reason, and no error.
func TestForgottenJobExitCodeNotKnown(t *testing.T) {
	for _, c := range []struct {
		what string
		put  func(t *testing.T, path string)
	}{
		{"a link", func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "code")
			if err := os.WriteFile(target, []byte("0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"a FIFO", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"too large", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("0", 4096)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"no number", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("done\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.what, func(t *testing.T) {
			b, jobDir := forgottenJob(t)
			c.put(t, filepath.Join(jobDir, "exitcode"))
			wantExitCodeNotKnown(t, "exit code file "+c.what, func() (backend.Status, error) {
				return b.Status(context.Background(), "777")
			})
		})
	}
}

// forgottenJob is a Slurm site whose slurmctld no longer knows job 777,
// attempt r1-1's, and that job's directory in the site's state.
func forgottenJob(t *testing.T) (*slurm.Slurm, string) {
	t.Helper()
	state := t.TempDir()
	squeue := "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
	b := fakeSlurm(t, state, map[string]string{"squeue": squeue})
	slurm.WriteRecord(t, state, filepath.Join("handles", "777"), "r1-1")
	slurm.WriteRecord(t, state, filepath.Join("jobs", "r1-1", "jobid"), "777")
	return b, filepath.Join(state, "jobs", "r1-1")
}

// wantExitCodeNotKnown fails the test unless two polls of status both
// read the job lost, its exit code named not known, with no end and no
// error.
func wantExitCodeNotKnown(t *testing.T, what string, status func() (backend.Status, error)) {
	t.Helper()
	for poll := range 2 {
		st, err := status()
		if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "exit code is not known") || !st.Ended.IsZero() {
			t.Fatalf("%s, poll %d: Status = %+v, %v; want lost, its exit code named not known, no end", what, poll, st, err)
		}
	}
}
