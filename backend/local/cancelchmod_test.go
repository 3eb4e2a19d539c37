package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// chmodLoop makes dir mode 0 again and again, yielding between two, until
// undo, which sets its mode back; the test's end undoes it where the test
// did not.
func chmodLoop(t *testing.T, dir string) (undo func()) {
	t.Helper()
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.Chmod(dir, 0)
			runtime.Gosched()
		}
	}()
	var once sync.Once
	undo = func() {
		once.Do(func() {
			close(stop)
			<-stopped
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(undo)
	return undo
}

// TestCancelStopsARunningJobWhileItsJobDirIsMadeMode0InALoop: Cancel of a
// job not ended looked for its "cancelled" mark with a stat that read it
// as absent while the directory was mode 0, and wrote it outside the
// looks again: where that write met mode 0, Cancel returned before it
// signalled anything, and so did every retry, the job (running, or its
// wrapper killed and a holder of the command lock left) running on. The
// mark is now made once, looked at again, and where it still cannot be
// made the job is stopped all the same, the error said after. Where it
// got through, it overwrote the first Cancel's time: each retry counted
// the grace afresh, and where TreeWait is shorter than it none ever sent
// SIGKILL to a holder deaf to SIGTERM.
func TestCancelStopsARunningJobWhileItsJobDirIsMadeMode0InALoop(t *testing.T) {
	for _, kind := range []string{"running", "orphaned"} {
		t.Run(kind, func(t *testing.T) {
			// Retries shorter than the grace: a grace counted afresh by
			// each never ends.
			b := newLocalGrace(t, 3*time.Second, time.Second)
			h, dir, wrapper, esc := deafJob(t, b, kind, "chmod-"+kind)
			undo := chmodLoop(t, dir)
			// 45 s: retried until the job stops, which takes the grace
			// (3 s) and a few tries; with the whole suite beside it,
			// 15 s once ran out with the holder still on.
			start := time.Now()
			cancelWhileJobRuns(t, b, h, wrapper, esc, 45*time.Second)
			undo()
			wantJobStopped(t, wrapper, esc, fmt.Sprintf("Cancel retried for %s while the job's directory was made mode 0 in a loop", time.Since(start).Round(time.Second)))
			if err := cancelAsServer(t, b, h); err != nil {
				t.Fatalf("Cancel once the job is stopped: %v", err)
			}
		})
	}
}

// groupRuns says whether a process of the group pid leads still runs: a
// zombie not yet reaped is not counted (kill(-pid, 0) counted it).
func groupRuns(pid int) bool {
	return len(groupMembers(pid)) > 0
}

// TestCancelStopsAJobWhoseMarkCannotBeMade: where the job's "cancelled"
// mark could not be made (its directory made mode 0 each time, a full
// disk), Cancel returned before it signalled anything, and so did every
// retry: the job ran on. It is now stopped all the same, its holders
// given the grace from the first Cancel's time, kept by the server, and
// Cancel says the mark could not be made.
func TestCancelStopsAJobWhoseMarkCannotBeMade(t *testing.T) {
	for _, kind := range []string{"running", "orphaned"} {
		t.Run(kind, func(t *testing.T) {
			b := newLocalGrace(t, 3*time.Second, time.Second)
			h, _, wrapper, esc := deafJob(t, b, kind, "unmarked-"+kind)
			t.Cleanup(local.SetCancelMarkFailing(syscall.ENOSPC))
			first, err := cancelWhileJobRuns(t, b, h, wrapper, esc, 15*time.Second)
			wantJobStopped(t, wrapper, esc, fmt.Sprintf("Cancel retried for 15 s with its mark failing (last: %v)", err))
			if !errors.Is(first, syscall.ENOSPC) {
				t.Fatalf("the first Cancel with its mark failing: %v; want the error that says so", first)
			}
		})
	}
}

// TestCancelGivenUpSaysWhenTheCommandCannotBeTold: a Cancel whose caller
// gave up while the command lock could not be looked at said the
// command still ran, where that could not be told, unlike one that ran
// out of TreeWait.
func TestCancelGivenUpSaysWhenTheCommandCannotBeTold(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.TreeWait = 10 * time.Second
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "untold", Attempt: 1, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, b, h)
	dir := filepath.Join(b.StateDir(), "jobs", h)
	lock := filepath.Join(dir, "cmd.lock")
	target := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = asTheServersUser(t, func() error { return b.Cancel(ctx, h) })
	if err == nil || !strings.Contains(err.Error(), "cannot be told") || strings.Contains(err.Error(), "command still runs") {
		t.Fatalf("Cancel given up with the command lock a link: %v; want it to say whether the command runs cannot be told", err)
	}
}
