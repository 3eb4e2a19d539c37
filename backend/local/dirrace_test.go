package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// runningJob submits a job that runs until the test ends and returns its
// handle and its directory.
func runningJob(t *testing.T, b *local.Local, run string) (string, string) {
	t.Helper()
	h, err := b.Submit(context.Background(), backend.Spec{RunID: run, Attempt: 1, Command: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, b, h)
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
	return h, filepath.Join(b.StateDir(), "jobs", h)
}

// TestJobDirChmoddedAgainAfterItsReset: a workload of the server's user
// that made a job's directory mode 0 again right after the server set it
// back had the job's record read as absent: Status and Cancel answered
// that the job was not there (on which the run controller ends a
// cancelled run whose job runs on as one its site no longer knows), and
// Find that it was never launched (on which it is submitted again). A
// file that cannot be looked at is now no absent file: the server sets
// the directory back and looks again a few times, and a workload winning
// each time makes the call fail, naming the directory, never answer that
// the job is not there.
func TestJobDirChmoddedAgainAfterItsReset(t *testing.T) {
	ctx := context.Background()
	for _, times := range []int{1, -1} {
		every := times < 0
		name := map[bool]string{false: "once", true: "every time"}[every]
		t.Run("status/"+name, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			h, dir := runningJob(t, b, "dirrace")
			if err := os.Chmod(dir, 0); err != nil {
				t.Fatal(err)
			}
			chmodAgain(t, dir, times)
			var st backend.Status
			err := asTheServersUser(t, func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			})
			if !every && (err != nil || st.State != backend.Running) {
				t.Fatalf("Status of a running job whose directory was made mode 0 again after its reset: %+v, %v; want running", st, err)
			}
			if every && (err == nil || errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), dir)) {
				t.Fatalf("Status of a running job whose directory is made mode 0 again each time: %+v, %v; want an error naming it, not a job not there", st, err)
			}
		})
	}
	// The directory made mode 0 while Status reads the job's files (here
	// as the server sets the job's lock back): Status looks again.
	t.Run("status/amid its reads", func(t *testing.T) {
		b := newLocal(t, t.TempDir())
		h := endedJob(t, b, backend.Spec{RunID: "dirrace", Attempt: 1, Command: []string{"true"}})
		dir := pidlessJob(t, b, h, time.Hour)
		lock := filepath.Join(dir, "lock")
		if err := os.Chmod(lock, 0); err != nil {
			t.Fatal(err)
		}
		once := true
		t.Cleanup(local.SetTestHookRestored(func(p string) {
			if p == lock && once {
				once = false
				if err := os.Chmod(dir, 0); err != nil {
					t.Error(err)
				}
			}
		}))
		var st backend.Status
		err := asTheServersUser(t, func() (err error) {
			st, err = b.Status(ctx, h)
			return err
		})
		if err != nil || st.State != backend.Lost {
			t.Fatalf("Status of a lost job whose directory was made mode 0 amid its reads: %+v, %v; want lost", st, err)
		}
	})
	for _, call := range []string{"cancel", "find"} {
		t.Run(call+"/every time", func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			h, dir := runningJob(t, b, "dirrace")
			if err := os.Chmod(dir, 0); err != nil {
				t.Fatal(err)
			}
			chmodAgain(t, dir, -1)
			found := false
			err := asTheServersUser(t, func() error {
				if call == "cancel" {
					return b.Cancel(ctx, h)
				}
				_, ok, err := b.Find(ctx, "dirrace", 1)
				found = ok
				return err
			})
			if err == nil && !found || errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("%s of a running job whose directory is made mode 0 again each time: %v (found %v); want an error, not a job not there", call, err, found)
			}
		})
	}
}

// TestRunLockInAnUnsearchableDirectoryIsNoAnswer: a job's run.lock that
// cannot be opened has the server look for the job's wrapper by the
// lock's inode, which it stats. With the job's directory mode 0 for that
// moment (a workload of the server's user toggling it), the stat failed
// and the lock read as held by no one: a running job whose pid file was
// seen a moment later read as lost. It is now an error.
func TestRunLockInAnUnsearchableDirectoryIsNoAnswer(t *testing.T) {
	b := newLocal(t, t.TempDir())
	_, dir := runningJob(t, b, "unsearchable")
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	var held bool
	err := asTheServersUser(t, func() (err error) {
		held, err = local.RunLockHeld(dir)
		return err
	})
	if err == nil {
		t.Fatalf("run lock of a running job in a directory that cannot be searched: held %v, no error; want an error", held)
	}
}

// TestSubmitOfACancelledJobItCannotLookAtLaunchesNothing: Submit, finding
// a job never launched, launches it unless it was cancelled; it looked
// for the cancelled mark with exists, which reads a file it cannot stat
// as absent. A workload of the server's user that made the job's
// directory mode 0 just after Submit's look at its pid and exit code had
// a cancelled job launched after all. Here the mark cannot be stat'd for
// another reason (a link to itself), which takes the same path: Submit
// now fails, naming the mark, and launches nothing.
func TestSubmitOfACancelledJobItCannotLookAtLaunchesNothing(t *testing.T) {
	b := newLocal(t, t.TempDir())
	spec := backend.Spec{RunID: "cancelunseen", Attempt: 1, Command: []string{"true"}}
	h := endedJob(t, b, spec)
	dir := pidlessJob(t, b, h, time.Hour)
	mark := filepath.Join(dir, "cancelled")
	if err := os.Symlink("cancelled", mark); err != nil {
		t.Fatal(err)
	}
	_, err := b.Submit(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Submit of a never launched job whose cancelled mark cannot be looked at: %v; want an error naming the mark, nothing launched", err)
	}
	for _, f := range []string{"pid", "exitcode"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			t.Errorf("Submit of a job whose cancelled mark cannot be looked at launched it: its %s is there", f)
		}
	}
}
