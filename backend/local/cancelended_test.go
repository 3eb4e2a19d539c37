package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// endedFailing submits a job that exits 3 and waits for its end.
func endedFailing(t *testing.T, run string) (*Local, string) {
	t.Helper()
	b, err := New(catalog.BackendSpec{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := b.Submit(context.Background(), backend.Spec{RunID: run, Attempt: 1, Command: []string{"sh", "-c", "exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := b.Status(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		if st.State.Final() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job never ended: %+v", st)
		}
	}
	return b, h
}

// TestCancelFailsWhereTheRunLockCannotBeLookedAt: Cancel of a job whose
// exit code was there went on where its run lock could not be looked at,
// and marked a job that had ended cancelled. It now fails, saying why,
// and marks nothing.
func TestCancelFailsWhereTheRunLockCannotBeLookedAt(t *testing.T) {
	b, h := endedFailing(t, "lockerr")
	old := cancelLockHeld
	t.Cleanup(func() { cancelLockHeld = old })
	cancelLockHeld = func(string) (bool, error) { return false, errors.New("the run lock cannot be looked at") }
	if err := b.Cancel(context.Background(), h); err == nil {
		t.Fatal("Cancel where the run lock cannot be looked at returned nil")
	}
	if _, err := os.Lstat(filepath.Join(b.jobDir(h), "cancelled")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Cancel marked the job cancelled: %v", err)
	}
}

// TestCancelMeetingTheWrappersEndMarksNothing: a wrapper that put its
// exit code in place and ended between Cancel's look and its mark had
// the job's nonzero exit read as cancelled, not failed. The job is now
// looked at again just before the mark. Here the first look finds the
// run lock held (the wrapper not yet ended).
func TestCancelMeetingTheWrappersEndMarksNothing(t *testing.T) {
	b, h := endedFailing(t, "endrace")
	old := cancelLockHeld
	t.Cleanup(func() { cancelLockHeld = old })
	first := true
	cancelLockHeld = func(dir string) (bool, error) {
		if first {
			first = false
			return true, nil
		}
		return old(dir)
	}
	if err := b.Cancel(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(context.Background(), h)
	if err != nil || st.State != backend.Failed || st.ExitCode != 3 {
		t.Fatalf("status %+v, %v; want failed with exit code 3", st, err)
	}
}
