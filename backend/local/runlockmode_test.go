package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestStatusSetsTheRunLocksModeBack: a workload of the server's user may
// chmod any job's files (Landlock does not cover metadata). A run.lock
// made mode 0 was never set back: the server could not open it, and
// every later look at the job (each Status, Cancel's every 10 ms) read
// the whole of /proc for its wrapper instead. It is now opened as the
// server's other records are, its mode set back.
func TestStatusSetsTheRunLocksModeBack(t *testing.T) {
	b := newLocal(t, t.TempDir())
	h := endedJob(t, b, backend.Spec{RunID: "lockmode", Attempt: 1, Command: []string{"true"}})
	lock := filepath.Join(b.StateDir(), "jobs", h, "run.lock")
	if err := os.Chmod(lock, 0); err != nil {
		t.Fatal(err)
	}
	var st backend.Status
	err := asTheServersUser(t, func() (err error) {
		st, err = b.Status(context.Background(), h)
		return err
	})
	if err != nil || st.State != backend.Succeeded {
		t.Fatalf("status %+v, %v; want succeeded", st, err)
	}
	fi, err := os.Stat(lock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("run.lock is mode %#o after Status; want it set back to 0644", fi.Mode().Perm())
	}
}
