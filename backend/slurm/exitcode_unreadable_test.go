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
	"meridian.dev/meridian/internal/captest"
)

// TestForgottenJobExitCodeUnreadable: a forgotten job's exit code file
// made mode 0, or the job's directory made mode 0 or replaced by a FIFO,
// made every Status of the job fail (EACCES, ENOTDIR), for good, as the
// job's workload, which runs as the server's user and writes that
// directory, chose. It now reads as an exit code not known: the job lost,
// with a reason, and no error. Status runs as the server's user really
// would (asTheServersUser): where the test runs as root, without the
// capabilities with which root reads a file of mode 0.
func TestForgottenJobExitCodeUnreadable(t *testing.T) {
	for _, c := range []struct {
		what string
		put  func(t *testing.T, jobDir string)
	}{
		{"the file made mode 0", func(t *testing.T, jobDir string) {
			path := filepath.Join(jobDir, "exitcode")
			if err := os.WriteFile(path, []byte("0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"the job's directory made mode 0", func(t *testing.T, jobDir string) {
			if err := os.WriteFile(filepath.Join(jobDir, "exitcode"), []byte("0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(jobDir, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(jobDir, 0o700) })
		}},
		{"the job's directory a FIFO", func(t *testing.T, jobDir string) {
			if err := os.RemoveAll(jobDir); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(jobDir, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.what, func(t *testing.T) {
			state := t.TempDir()
			squeue := "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
			b := fakeSlurm(t, state, map[string]string{"squeue": squeue})
			slurm.WriteRecord(t, state, filepath.Join("handles", "777"), "r1-1")
			slurm.WriteRecord(t, state, filepath.Join("jobs", "r1-1", "jobid"), "777")
			c.put(t, filepath.Join(state, "jobs", "r1-1"))
			for poll := range 2 {
				var st backend.Status
				err := asTheServersUser(t, func() (err error) {
					st, err = b.Status(context.Background(), "777")
					return err
				})
				if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "exit code is not known") || !st.Ended.IsZero() {
					t.Fatalf("exit code, %s, poll %d: Status = %+v, %v; want lost, its exit code named not known, no end", c.what, poll, st, err)
				}
			}
		})
	}
}

// asTheServersUser is captest.AsTheServersUser.
var asTheServersUser = captest.AsTheServersUser
