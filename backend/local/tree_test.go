package local_test

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// linger is `<test binary> __linger RELEASE`, a process of a job that
// stands for the agent's reaper still ending what the workload left after
// the agent is gone: in a process group of its own (the job's group
// SIGKILL does not reach it), deaf to SIGTERM, it runs until the file
// RELEASE exists (30 s at most), then writes to the job's working
// directory, as the reaper's last kills and the processes they end may.
// Like the reaper, which the agent starts holding none of the agent's
// own descriptors, it does not hold the job's command lock (fd 5) where
// lingeringJob starts it; an agent that handed its descriptors on gave
// the reaper that lock (TestCleanWaitsForAReaperHoldingTheCommandLock).
func linger(release string) int {
	syscall.Setpgid(0, 0)
	signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	if err := os.WriteFile("linger.pid", []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return 1
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(release); err == nil {
			break
		}
	}
	os.WriteFile("linger.done", nil, 0o644)
	return 0
}

// running reports whether pid runs (exists and is no zombie).
func running(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i:], ") Z")
}

// lingeringJob submits a job whose command starts linger (released by
// the file release) and waits; it returns the job's handle, its working
// directory and linger's pid.
func lingeringJob(t *testing.T, b *local.Local, run, release string) (string, string, int) {
	t.Helper()
	return lingeringJobWith(t, b, run, release, `"$0" __linger "$1" 5<&- & sleep 60`)
}

// lingeringJobWith is lingeringJob whose command is script, a shell
// script that starts linger as "$0" __linger "$1".
func lingeringJobWith(t *testing.T, b *local.Local, run, release, script string) (string, string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: run, Attempt: 1,
		Command: []string{"/bin/sh", "-c", script, exe, release}}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	wd := b.WorkDir(spec)
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		raw, _ := os.ReadFile(filepath.Join(wd, "linger.pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return h, wd, pid
}

// TestCancelWaitsForWhatTheJobStarted: Cancel returned once the job's
// wrapper had ended, while the agent's reaper (in a process group of its
// own) could still be killing what the workload left, for up to 10 s; the
// controller's Clean then removed the working directory under processes
// still ending. Now Cancel returns once they have ended too.
func TestCancelWaitsForWhatTheJobStarted(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 300 * time.Millisecond
	release := filepath.Join(t.TempDir(), "release")
	h, _, pid := lingeringJob(t, b, "lingering", release)
	// The reaper ends a second after the agent has gone.
	go func() {
		time.Sleep(time.Second)
		os.WriteFile(release, nil, 0o644)
	}()
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if running(pid) {
		t.Fatalf("Cancel returned while pid %d, which the job started, still ran", pid)
	}
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Cancelled {
		t.Errorf("Status = %+v, %v; want cancelled", st, err)
	}
}

// TestCleanKeepsADirectoryInUse: Clean removed the working directory of a
// job whose wrapper had ended, whatever the job had started still did
// there. Now it waits TreeWait for them, and if some still run then, it
// keeps the directory and says so; once they have ended it removes it.
func TestCleanKeepsADirectoryInUse(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 300 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	release := filepath.Join(t.TempDir(), "release")
	h, wd, pid := lingeringJob(t, b, "in-use", release)
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	err := b.Clean(ctx, h)
	if err == nil || !strings.Contains(err.Error(), "1 processes") || !strings.Contains(err.Error(), "kept") {
		t.Errorf("Clean while pid %d of the job runs: %v; want an error saying one process runs and the directory is kept", pid, err)
	}
	if _, serr := os.Stat(wd); serr != nil {
		t.Fatalf("Clean removed the working directory under pid %d, which still runs (Clean said %v)", pid, err)
	}
	if !running(pid) {
		t.Fatal("the lingering process ended: the test stands for nothing")
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); running(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d runs on 10 s after its release", pid)
		}
	}
	if err := b.Clean(ctx, h); err != nil {
		t.Fatalf("Clean once the job's processes have ended: %v", err)
	}
	if _, err := os.Stat(wd); !os.IsNotExist(err) {
		t.Errorf("the working directory is still there after Clean: %v", err)
	}
}

// TestCancelKillsWhatOutlivesTheWrapper: a process of the job's group that
// ignores SIGTERM outlived a wrapper whose command ended by the signal:
// Cancel saw the wrapper end and never sent the SIGKILL its grace
// promises, and the process ran on for good. Now what is left of the
// job's group after the grace is killed, and Cancel returns once it has
// ended.
func TestCancelKillsWhatOutlivesTheWrapper(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 300 * time.Millisecond
	spec := backend.Spec{RunID: "stray", Attempt: 1,
		Command: []string{"/bin/sh", "-c", `sh -c 'trap "" TERM; echo $$ > stray.pid; while :; do sleep 0.05; done' & sleep 60`}}
	h, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		raw, _ := os.ReadFile(filepath.Join(b.WorkDir(spec), "stray.pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if running(pid) {
		t.Fatalf("Cancel returned while pid %d of the job's group, which ignores SIGTERM, still ran", pid)
	}
}

// TestCleanWaitsForAReaperHoldingTheCommandLock: the agent handed the
// descriptors it was started with (the job's command lock, fd 5, among
// them) to its reaper, which, once the agent was killed, goes on ending
// what the workload left, holding the lock. Clean failed at once, saying
// a process of the job's command still ran, and the controller asks
// Clean once: the working directory, plaintext in it, stayed for good.
// Clean now waits TreeWait for the lock as it does for the job's tree,
// and removes the directory once the lingering process has ended.
func TestCleanWaitsForAReaperHoldingTheCommandLock(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.TreeWait = 20 * time.Second
	release := filepath.Join(t.TempDir(), "release")
	h, wd, pid := lingeringJobWith(t, b, "reaper-lock", release, `"$0" __linger "$1" & exit 0`)
	// The job reads running while the lingering process holds its
	// command lock: the wrapper's end is waited for, not the job's.
	waitEnded(t, b, h)
	if runs, err := local.CommandRuns(filepath.Join(b.StateDir(), "jobs", h)); err != nil || !runs {
		t.Fatalf("the lingering process holds no command lock (%v, %v): the test stands for nothing", runs, err)
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		os.WriteFile(release, nil, 0o644)
	}()
	if err := b.Clean(ctx, h); err != nil {
		t.Fatalf("Clean while a process holding the job's command lock ends within TreeWait: %v", err)
	}
	if running(pid) {
		t.Fatalf("Clean returned while pid %d, holding the job's command lock, still ran", pid)
	}
	if _, err := os.Stat(wd); !os.IsNotExist(err) {
		t.Errorf("the working directory is still there after Clean: %v", err)
	}
}
