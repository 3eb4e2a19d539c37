package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
)

// TestEndNotSetBackByTheExitFilesTime: a workload of the server's user
// (the landlock sandbox) may set the times of any job's files. Status
// said the job ended when its exit code file was last modified, a time
// anyone may set: set back to the job's start, it made a job that ran for
// long count no time at all (the run controller takes an end that moves
// its own stamp earlier). The end is now that file's change time, which
// the filesystem stamps when the wrapper renames the file into place and
// which no one can set back.
func TestEndNotSetBackByTheExitFilesTime(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h := endedJob(t, b, backend.Spec{RunID: "endback", Attempt: 1, Command: []string{"sleep", "0.3"}})
	dir := filepath.Join(b.StateDir(), "jobs", h)
	exitcode := filepath.Join(dir, "exitcode")
	fi, err := os.Stat(exitcode)
	if err != nil {
		t.Fatal(err)
	}
	ended := fi.ModTime()
	started, err := os.Stat(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(exitcode, started.ModTime(), started.ModTime()); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ended.Before(ended) || st.Ended.After(time.Now()) {
		t.Fatalf("the exit file's time set back to the job's start (%v): Status says it ended at %v; want no earlier than its real end, %v",
			started.ModTime(), st.Ended, ended)
	}
}

// TestCleanLeavesASessionUnderAnExitFileTimeSetAhead: the exit code file's
// time counted, uncapped, as a time the job's wrapper was known alive, and
// processes of the session under the job's old id begun before it were
// taken for the job's. Set an hour ahead (by a workload of the server's
// user, which may set any job's times), it made a later session under
// the id (another job's wrapper, a daemon) the job's: Clean waited for it
// and kept the job's working directory. The wrapper's life is now told by
// its pid file's time, bounded by the launch, and by what the server saw
// itself, never by the exit file's time.
func TestCleanLeavesASessionUnderAnExitFileTimeSetAhead(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.TreeWait = 300 * time.Millisecond
	spec := backend.Spec{RunID: "exitahead", Attempt: 1, Command: []string{"true"}}
	h := endedJob(t, b, spec)
	dir := filepath.Join(b.StateDir(), "jobs", h)
	pidPath := filepath.Join(dir, "pid")
	fi, err := os.Stat(pidPath)
	if err != nil {
		t.Fatal(err)
	}

	// A later session, its leader under the id the pid file names.
	afterPidFileTick(fi.ModTime())
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	namePid(t, pidPath, other.Process.Pid, fi.ModTime())
	ahead := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "exitcode"), ahead, ahead); err != nil {
		t.Fatal(err)
	}

	if err := b.Clean(ctx, h); err != nil {
		t.Fatalf("Clean of an ended job whose exit file's time was set ahead waited for a later session under the job's old id: %v", err)
	}
	if _, err := os.Stat(b.WorkDir(spec)); !os.IsNotExist(err) {
		t.Errorf("the working directory is still there after Clean: %v", err)
	}
	if !running(other.Process.Pid) {
		t.Fatalf("pid %d, a later session's leader under the job's old id, has ended", other.Process.Pid)
	}
}

// TestCancelSignalsTheWrapperNotWhatThePidFileNames: Cancel signalled
// the process group its job's pid file named, checking only that the
// job's run lock was held (the wrapper alive), not that the pid was the
// wrapper's: a workload that could write its job's directory (a pid file
// naming another process) had a Cancel of its own job kill another
// session's group (another job's wrapper, the server's user's daemon)
// and leave the job running, Cancel then signalling that group again
// until its caller gave up. The pid file's process is now signalled only
// where it is the job's wrapper (a session leader running the wrapper and
// holding the job's run lock), else the wrapper found so.
func TestCancelSignalsTheWrapperNotWhatThePidFileNames(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 200 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	h, dir := runningJob(t, b, "forgedpid")
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	pidPath := filepath.Join(dir, "pid")
	fi, err := os.Stat(pidPath)
	if err != nil {
		t.Fatal(err)
	}
	namePid(t, pidPath, other.Process.Pid, fi.ModTime())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cerr := b.Cancel(ctx, h)
	if !running(other.Process.Pid) {
		t.Fatalf("Cancel of a job whose pid file names pid %d, another session's leader, killed it", other.Process.Pid)
	}
	if cerr != nil {
		t.Fatalf("Cancel of a job whose pid file names another session's leader: %v", cerr)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled {
		t.Fatalf("after Cancel: %+v, want cancelled", st)
	}
}

// TestExitFileOfARunningJobIsNotItsEnd: the job's exit code file was
// taken for its end whoever wrote it, before the run lock its wrapper
// holds for its whole life was looked at. An exit code written while the
// wrapper lives (a workload that could write its job's directory) had
// Status say the job succeeded while it ran on (its run ended, its
// accelerators counted free, its spend stopped) and Cancel return at
// once, stopping nothing. While the run lock is held the job runs, and
// Cancel stops it.
func TestExitFileOfARunningJobIsNotItsEnd(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	// Long enough for the wrapper to sync its exit code and its directory
	// (each fsync up to 150 ms on a loaded machine) before the SIGKILL:
	// killed first, it leaves the exit code file written under it.
	b.CancelGrace = 2 * time.Second
	b.TreeWait = 300 * time.Millisecond
	h, dir := runningJob(t, b, "forgedexit")
	if err := os.WriteFile(filepath.Join(dir, "exitcode"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(ctx, h)
	if err != nil || st.State != backend.Running {
		t.Fatalf("a running job whose exit code file was written under it: %+v, %v; want running", st, err)
	}
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if held, err := local.RunLockHeld(dir); err != nil || held {
		t.Fatalf("after Cancel of a running job with an exit code file written under it, its wrapper holds the run lock: %v, %v", held, err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled {
		t.Fatalf("after Cancel: %+v, want cancelled", st)
	}
}

// TestCancelStopsAJobThatSwappedItsRunLock: the wrapper is told from the
// process its pid file names by its command line too, not only by the run
// lock it holds: a job that put a run lock of its own in place of its
// wrapper's and held it (a workload that could write its job's
// directory) left Cancel finding no wrapper, signalling nothing and
// waiting on the lock until its caller gave up, the job running on.
func TestCancelStopsAJobThatSwappedItsRunLock(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	b.CancelGrace = 200 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	spec := backend.Spec{RunID: "swaplock", Attempt: 1, Command: []string{"/bin/sh", "-c",
		`d="$1"; exec 9>"$d/run.lock.new" && flock 9 && mv "$d/run.lock.new" "$d/run.lock" && : >"$d/swapped" && exec sleep 60`,
		"swapper", filepath.Join(state, "jobs", "swaplock-1")}}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(state, "jobs", h)
	pid := readPid(t, b, h)
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "swapped")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never swapped its run lock")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatalf("Cancel of a job that swapped its run lock: %v", err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled {
		t.Fatalf("after Cancel: %+v, want cancelled", st)
	}
}

// TestWrapperWritesNoExitCodeThroughALink: the job's wrapper, which runs
// as the server's user outside any sandbox, wrote the exit code through
// whatever was at .exitcode.tmp when the command ended, following a link:
// a job that put a link there (a workload that could write its job's
// directory) had the wrapper empty the file it named, the server's
// database or audit log among those it may write, and write the exit code
// in it. The wrapper now removes what is there and makes the file anew,
// never opening one that is there.
func TestWrapperWritesNoExitCodeThroughALink(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	precious := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(precious, []byte("the server's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "exitlink", Attempt: 1, Command: []string{"/bin/sh", "-c",
		`ln -s "$2" "$1/.exitcode.tmp"`, "linker", filepath.Join(state, "jobs", "exitlink-1"), precious}})
	if err != nil {
		t.Fatal(err)
	}
	st := backendtest.WaitFinal(t, b, h)
	data, err := os.ReadFile(precious)
	if err != nil || string(data) != "the server's own\n" {
		t.Fatalf("after a job put a link to it at .exitcode.tmp, the file reads %q, %v; want it untouched", data, err)
	}
	if st.State != backend.Succeeded {
		t.Fatalf("a job that put a link at .exitcode.tmp and ended well: %+v, want succeeded", st)
	}
}
