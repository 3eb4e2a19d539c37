package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"meridian.dev/meridian/backend"
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
			b, jobDir := forgottenJob(t)
			c.put(t, jobDir)
			wantExitCodeNotKnown(t, "exit code, "+c.what, func() (st backend.Status, err error) {
				err = asTheServersUser(t, func() (err error) {
					st, err = b.Status(context.Background(), "777")
					return err
				})
				return st, err
			})
		})
	}
}

// asTheServersUser is captest.AsTheServersUser.
var asTheServersUser = captest.AsTheServersUser
