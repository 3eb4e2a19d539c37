package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
)

// TestCancelLeavesASessionThatReusedTheJobsId: a job whose wrapper was
// killed (the job lost) left its pid file naming a pid the kernel may give
// to any later process. Cancel and Clean took every process of the session
// under that id for the job's: Cancel sent SIGTERM and SIGKILL to the
// group of a later session leader that got the pid (another job's
// wrapper, a daemon), and Clean waited for it and kept the job's
// directory. Here the reuse is played by a session leader begun after the
// wrapper ended, named in the pid file the wrapper wrote (its time kept).
func TestCancelLeavesASessionThatReusedTheJobsId(t *testing.T) {
	ctx := context.Background()
	b, spec, h, pidPath, mtime := submitLost(t)

	// A later session, its leader under the id the pid file names.
	afterPidFileTick(mtime)
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	namePid(t, pidPath, other.Process.Pid, mtime)

	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if !running(other.Process.Pid) {
		t.Fatalf("Cancel of a lost job killed pid %d, a later session's leader under the job's old id", other.Process.Pid)
	}
	if err := b.Clean(ctx, h); err != nil {
		t.Errorf("Clean of a lost job waited for a later session under the job's old id: %v", err)
	}
	if _, err := os.Stat(b.WorkDir(spec)); !os.IsNotExist(err) {
		t.Errorf("the working directory is still there after Clean: %v", err)
	}
	if !running(other.Process.Pid) {
		t.Fatalf("pid %d, a later session's leader under the job's old id, has ended", other.Process.Pid)
	}
}

// TestCancelLeavesADaemonsSessionUnderTheJobsId: a later session under a
// lost job's old id need not have its leader: a daemon forks, its child
// calls setsid, forks again and exits, and the grandchild runs on in the
// session and group of the child's id, which no process has as its own.
// Cancel killed it as the job's. Now it is waited for at most (Clean
// keeps the job's directory and says so), and never signalled.
func TestCancelLeavesADaemonsSessionUnderTheJobsId(t *testing.T) {
	ctx := context.Background()
	b, _, h, pidPath, mtime := submitLost(t)

	// The session's leader prints its child's pid and exits.
	afterPidFileTick(mtime)
	leader := exec.Command("/bin/sh", "-c", `sleep 60 </dev/null >/dev/null 2>&1 & echo $!`)
	leader.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := leader.Output()
	if err != nil {
		t.Fatal(err)
	}
	daemon, err := strconv.Atoi(string(bytes.TrimSpace(out)))
	if err != nil {
		t.Fatalf("the leader said %q", out)
	}
	t.Cleanup(func() { syscall.Kill(daemon, syscall.SIGKILL) })
	namePid(t, pidPath, leader.Process.Pid, mtime)

	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if !running(daemon) {
		t.Fatalf("Cancel of a lost job killed pid %d, of a later session under the job's old id", daemon)
	}
	b.Clean(ctx, h)
	if !running(daemon) {
		t.Fatalf("pid %d, of a later session under the job's old id, has ended", daemon)
	}
}

// submitLost submits a job to a new backend and, once it runs, kills its
// wrapper's group: the job is lost, its pid file left. It returns the
// backend, the job's spec and handle, and its pid file's path and time.
func submitLost(t *testing.T) (b *local.Local, spec backend.Spec, h, pidPath string, mtime time.Time) {
	t.Helper()
	b = newLocal(t, t.TempDir())
	b.CancelGrace = 100 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	spec = backend.Spec{RunID: "lost", Attempt: 1, Command: []string{"sleep", "60"}}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	pidPath = filepath.Join(b.StateDir(), "jobs", h, "pid")
	wrapper := readPid(t, b, h)
	fi, err := os.Stat(pidPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-wrapper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	backendtest.WaitFinal(t, b, h)
	return b, spec, h, pidPath, fi.ModTime()
}

// afterPidFileTick waits until a process begun now begins in a later
// clock tick than the pid file's time, mtime, names. The backend compares
// start times in clock ticks (10 ms): a session leader begun in the tick
// in which the wrapper was last known alive (its pid file's time, from the
// kernel's coarse clock, which lags by up to a tick) may be the wrapper
// itself, which begins in the tick it writes its pid, so it is waited for
// as the job's, though never signalled. A real reuse of the id comes
// later: the kernel gives it again only once the wrapper and every
// process of its session have ended and its pids have come round
// (up to pid_max, by default 32768 or more). A leader begun in the same
// tick, which a loaded machine let this test start about once in 70 runs,
// kept Clean waiting.
func afterPidFileTick(mtime time.Time) {
	if d := 3*10*time.Millisecond - time.Since(mtime); d > 0 {
		time.Sleep(d)
	}
}

// namePid rewrites the pid file at pidPath to name pid, its time kept at
// mtime, as if the kernel had given the job's old id to pid.
func namePid(t *testing.T, pidPath string, pid int, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(pidPath, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestCancelLeavesASessionUnderAPidFileTimeSetAhead: a workload of the
// server's user (the landlock sandbox) cannot write a job's files but may
// set their times, any job's. A lost job's pid file whose time was set
// ahead (here an hour) made a later session under the job's old id, begun
// long after the job's launch, read as the job's for sure: a Cancel of the
// job killed its leader. The pid file's time now counts no later than
// shortly after the launch its record names.
func TestCancelLeavesASessionUnderAPidFileTimeSetAhead(t *testing.T) {
	hourAgo := time.Now().Add(-time.Hour)
	cancelLeavesASessionUnderAPidFileTimeSetAhead(t, hourAgo, hourAgo)
}

// TestPidFileTimeBoundedOnTheFilesystemClock: the pid file's time, which
// the filesystem stamps on its own clock, counted no later than 10 s
// after the launch on the launching server's clock: a launcher whose
// clock ran an hour ahead of the filesystem's let a workload set the pid
// file's time an hour ahead, and a later session under a lost job's old
// id begun within that hour was the job's for sure, its leader killed by
// a Cancel of the job. It is now bounded by the launch the record keeps
// on the filesystem's clock.
func TestPidFileTimeBoundedOnTheFilesystemClock(t *testing.T) {
	launch := time.Now().Add(-time.Hour)
	cancelLeavesASessionUnderAPidFileTimeSetAhead(t, launch.Add(time.Hour), launch)
}

// cancelLeavesASessionUnderAPidFileTimeSetAhead has a lost job's record
// name its launch at submitted on the launching server's clock and at
// onFiles on the filesystem's, sets its pid file's time an hour ahead,
// naming a session begun now, and checks that a Cancel of the job leaves
// that session's leader.
func cancelLeavesASessionUnderAPidFileTimeSetAhead(t *testing.T, submitted, onFiles time.Time) {
	t.Helper()
	ctx := context.Background()
	b, _, h, pidPath, _ := submitLost(t)
	setLaunch(t, filepath.Join(filepath.Dir(pidPath), "job.json"), submitted, onFiles)

	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	namePid(t, pidPath, other.Process.Pid, time.Now().Add(time.Hour))

	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if !running(other.Process.Pid) {
		t.Fatalf("Cancel of a lost job whose pid file's time was set ahead killed pid %d, a later session's leader under the job's old id", other.Process.Pid)
	}
}

// setLaunch has the job record at path (which only the server writes)
// name its launch at submitted on the launching server's clock and at
// onFiles on the state directory's filesystem clock.
func setLaunch(t *testing.T, path string, submitted, onFiles time.Time) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	rec["submitted"] = submitted.UTC().Format(time.RFC3339Nano)
	rec["submittedOnFiles"] = onFiles.UTC().Format(time.RFC3339Nano)
	if data, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
