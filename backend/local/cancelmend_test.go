package local_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend/local"
)

// retryCancel retries Cancel of h, as the server's user, until it returns
// nil or within has passed, and returns its last error.
func retryCancel(t *testing.T, b *local.Local, h string, within time.Duration) error {
	t.Helper()
	return retryUntilNil(within, func() error { return cancelAsServer(t, b, h) })
}

// TestCancelStopsAHolderWhileItsJobDirIsMadeMode0InALoop: a landlock
// workload runs as the server's user and knows the state directory: it
// may make a job's directory mode 0 again and again. The command lock
// then could not be looked at: a Cancel of the ended job returned at
// once on that error, and its scan for the lock's holders read the lock
// as not there and signalled nothing, the holder running on while every
// retry failed. Cancel now sets the directory's mode back before each
// look, and scans by the lock's name once learnt.
func TestCancelStopsAHolderWhileItsJobDirIsMadeMode0InALoop(t *testing.T) {
	b := newLocalGrace(t, 100*time.Millisecond, 2*time.Second)
	h, dir, esc := endedWithDeafHolder(t, b, "chmod-loop")
	undo := chmodLoop(t, dir)
	cancelWhileJobRuns(t, b, h, 0, esc, 15*time.Second)
	undo()
	wantJobStopped(t, 0, esc, "Cancel retried for 15 s while the job's directory was made mode 0 in a loop")
	if err := cancelAsServer(t, b, h); err != nil {
		t.Fatalf("Cancel once the holder is gone: %v", err)
	}
}

// unreadableMark puts a link to a file where the job's mark name is: it
// is there and cannot be read as the server's own.
func unreadableMark(t *testing.T, dir, name string) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// TestAnUnreadableCancelMarkDoesNotRestartTheGrace: a cancelled mark (or
// an ended job's cancel.at) that is there and cannot be read had each
// Cancel count the grace from its own start: where TreeWait is shorter
// than the grace, no retry ever killed a holder deaf to SIGTERM. The
// grace has now run out at once (the holder is asked to end, and its
// own grace kept), and a retry past it kills the holder.
func TestAnUnreadableCancelMarkDoesNotRestartTheGrace(t *testing.T) {
	for _, mark := range []string{"cancelled", "cancel.at"} {
		t.Run(mark, func(t *testing.T) {
			b := newLocalGrace(t, 3*time.Second, time.Second)
			var h, dir string
			var esc int
			if mark == "cancelled" {
				h, dir, esc = orphanedEscapee(t, b, "unreadable-mark", deafToTERM)
			} else {
				h, dir, esc = endedWithDeafHolder(t, b, "unreadable-asked")
			}
			unreadableMark(t, dir, mark)
			if err := retryCancel(t, b, h, 15*time.Second); err != nil {
				t.Fatalf("Cancel retried well past the grace with the job's %s unreadable: %v; want the holder killed", mark, err)
			}
			wantHolderKilled(t, esc)
		})
	}
}

// TestAnEndedJobsFirstCancelIsKeptWhereItCannotBeWritten: where an ended
// job's first Cancel cannot keep its time (a full disk), each Cancel
// counted the grace from its own start, and retries shorter than it never
// killed a holder deaf to SIGTERM. The server keeps the first time
// itself, and a retry past the grace kills the holder.
func TestAnEndedJobsFirstCancelIsKeptWhereItCannotBeWritten(t *testing.T) {
	b := newLocalGrace(t, 3*time.Second, time.Second)
	h, _, esc := endedWithDeafHolder(t, b, "asked-unkept")
	t.Cleanup(local.SetCancelAskedFailing(os.ErrPermission))
	if err := retryCancel(t, b, h, 15*time.Second); err != nil {
		t.Fatalf("Cancel of the ended job retried well past the grace: %v; want the holder killed", err)
	}
	wantHolderKilled(t, esc)
}

// TestCleanForgetsAJobsFirstCancel: the time of a job's first Cancel that
// the server kept in memory (where it could not be written) was never
// forgotten, one entry for each such job for the server's life. Clean of
// the ended job forgets it.
func TestCleanForgetsAJobsFirstCancel(t *testing.T) {
	b := newLocalGrace(t, time.Minute, 300*time.Millisecond)
	h, _, esc := endedWithDeafHolder(t, b, "asked-forgotten")
	t.Cleanup(local.SetCancelAskedFailing(os.ErrPermission))
	if err := cancelAsServer(t, b, h); err == nil {
		t.Fatal("Cancel returned nil with a holder deaf to SIGTERM within its grace")
	}
	if !local.CancelAskedKept(b, h) {
		t.Fatal("the first Cancel's time, which could not be written, is not kept")
	}
	if err := syscall.Kill(esc, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, esc)
	if err := asTheServersUser(t, func() error { return b.Clean(context.Background(), h) }); err != nil {
		t.Fatal(err)
	}
	if local.CancelAskedKept(b, h) {
		t.Fatal("Clean of the ended job kept the time of its first Cancel")
	}
}
