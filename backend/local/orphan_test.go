package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// killWrapperAlone kills the job's wrapper, pid, alone once its command
// has begun (a member of its group runs sleep 60: the wrapper's own
// children, which record its pid, do not count), and waits for it to let
// go of the run lock.
func killWrapperAlone(t *testing.T, dir string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !sleeps(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job's command never began: group %v", groupMembers(pid))
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		held, err := local.RunLockHeld(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed wrapper still holds the run lock")
		}
	}
}

// sleeps says whether a member of process group pgid runs sleep 60.
func sleeps(pgid int) bool {
	for _, p := range groupMembers(pgid) {
		if line, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline"); err == nil && string(line) == "sleep\x0060\x00" {
			return true
		}
	}
	return false
}

// waitGone waits until no live process has process group pgid.
func waitGone(t *testing.T, pgid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(groupMembers(pgid)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("group %d still runs: %v", pgid, groupMembers(pgid))
		}
	}
}

// TestKilledWrapperJobRunsUntilItsCommandEnds: a job whose wrapper alone
// was killed read as lost while its command ran on, and the run
// controller placed the run again beside it (two copies writing one
// checkpoint). It now reads running while its command runs, is not
// launched again by a Submit, and once the command has ended it has
// failed, its exit code unknown, not lost; that end stays.
func TestKilledWrapperJobRunsUntilItsCommandEnds(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h, dir := runningJob(t, b, "orphan")
	pid := readPid(t, b, h)
	killWrapperAlone(t, dir, pid)
	st, err := b.Status(ctx, h)
	if err != nil || st.State != backend.Running {
		t.Fatalf("status with the wrapper killed and its command running: %+v, %v; want running", st, err)
	}
	if !strings.Contains(st.Reason, "wrapper was killed") {
		t.Errorf("reason %q does not say the wrapper was killed", st.Reason)
	}
	if _, err := b.Submit(ctx, backend.Spec{RunID: "orphan", Attempt: 1, Command: []string{"sleep", "60"}}); err != nil {
		t.Fatal(err)
	}
	if got := readPid(t, b, h); got != pid {
		t.Fatalf("a Submit launched the job again beside its running command: pid %d, was %d", got, pid)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	for try := 0; try < 2; try++ {
		st, err = b.Status(ctx, h)
		if err != nil || st.State != backend.Failed || !strings.Contains(st.Reason, "exit code is unknown") {
			t.Fatalf("status once the command of a killed wrapper ended: %+v, %v; want failed, its exit code unknown", st, err)
		}
	}
}

// TestKilledWrapperJobRunsWhileAnEscapedProcessRuns: a workload may leave
// its session and process group (setsid), so the wrapper's session, or
// a pid, does not tell whether the job runs; the command lock its
// processes hold does. A process of the command that left both, its
// parent ended, keeps the job running.
func TestKilledWrapperJobRunsWhileAnEscapedProcessRuns(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h, dir, pid, escaped := escapingJob(t, b, "escape", "sleep 60")
	killWrapperAlone(t, dir, pid)
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if !running(escaped) {
		t.Fatal("the escaped process ended with the group")
	}
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Running {
		t.Fatalf("status while a process of the command that left its session runs: %+v, %v; want running", st, err)
	}
	syscall.Kill(escaped, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); running(escaped); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the escaped process does not end")
		}
	}
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Failed {
		t.Fatalf("status once every process of the command ended: %+v, %v; want failed", st, err)
	}
}

// escapingJob submits a job whose command starts a process that leaves
// its session and group (setsid) and then runs rest (a shell command);
// it returns the job's handle and directory, its wrapper's pid and the
// escaped process's pid.
func escapingJob(t *testing.T, b *local.Local, run, rest string) (string, string, int, int) {
	t.Helper()
	return escapingJobWith(t, b, run, "exec sleep 60", rest)
}

// escapingJobWith is escapingJob whose escaped process runs escaped (a
// shell command, without single quotes) once it has said its pid.
func escapingJobWith(t *testing.T, b *local.Local, run, escaped, rest string) (string, string, int, int) {
	t.Helper()
	mark := filepath.Join(t.TempDir(), "escaped")
	spec := backend.Spec{RunID: run, Attempt: 1,
		Command: []string{"/bin/sh", "-c", `setsid sh -c 'echo $$ >"$1.tmp" && mv "$1.tmp" "$1" && ` + escaped + `' sh "$0" & ` + rest, mark}}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, b, h)
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
	var pidEscaped int
	for deadline := time.Now().Add(10 * time.Second); pidEscaped == 0; time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(mark); err == nil {
			pidEscaped, err = strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
		} else if time.Now().After(deadline) {
			t.Fatal("the escaped process never began")
		}
	}
	t.Cleanup(func() { syscall.Kill(pidEscaped, syscall.SIGKILL) })
	return h, filepath.Join(b.StateDir(), "jobs", h), pid, pidEscaped
}

// TestCancelStopsAProcessThatLeftTheSession: a process of the job's
// command that left the wrapper's session and group (setsid) was
// followed by Cancel only below its parent, never signalled (it is in
// another group), and ran on after Cancel returned; its parent gone, it
// was not even found. What holds the job's command lock is the job's
// and is now stopped.
func TestCancelStopsAProcessThatLeftTheSession(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 200 * time.Millisecond
	b.TreeWait = 2 * time.Second
	h, _, _, escaped := escapingJob(t, b, "escape-cancel", "sleep 60")
	if err := b.Cancel(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if running(escaped) {
		t.Fatal("after Cancel, a process of the job's command that left its session runs on")
	}
}

// TestCleanKeepsTheWorkDirOfAProcessThatLeftTheSession: a job whose
// command ended, leaving a process that left its session (its parent
// gone), had its working directory removed by Clean under that process,
// which nothing found. Clean now keeps it while the process holds the
// job's command lock, and says so.
func TestCleanKeepsTheWorkDirOfAProcessThatLeftTheSession(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.TreeWait = 200 * time.Millisecond
	h, _, _, escaped := escapingJob(t, b, "escape-clean", "exit 0")
	// The wrapper ends; the job reads running while that process holds
	// its command lock (TestJobRunsWhileAProcessOfItsCommandHoldsTheLock),
	// and a Clean asked all the same keeps the directory.
	waitEnded(t, b, h)
	err := b.Clean(ctx, h)
	if err == nil || !strings.Contains(err.Error(), "still runs") {
		t.Errorf("Clean with a process of the job's command running: %v; want it to say so", err)
	}
	wd := b.WorkDir(backend.Spec{RunID: "escape-clean", Attempt: 1})
	if _, err := os.Stat(wd); err != nil {
		t.Fatalf("the working directory under a process of the job's command: %v; want it kept", err)
	}
	syscall.Kill(escaped, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); running(escaped); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the escaped process does not end")
		}
	}
	if err := b.Clean(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wd); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the working directory once every process ended: %v; want it removed", err)
	}
}
