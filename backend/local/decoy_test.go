package local_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// decoyWrapper starts a process leading its own session whose command
// line reads as the job's wrapper's (sh -c X meridian-job DIR ...), which
// ignores SIGTERM, and names it in the job's pid file.
func decoyWrapper(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	decoy := exec.Command("/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done", "meridian-job", dir, "sleep", "60")
	decoy.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-decoy.Process.Pid, syscall.SIGKILL); decoy.Wait() })
	// Its command line is the test's own until its exec.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		line, _ := os.ReadFile("/proc/" + strconv.Itoa(decoy.Process.Pid) + "/cmdline")
		if strings.Contains(string(line), "\x00meridian-job\x00") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the decoy's command line is %q", line)
		}
	}
	pidPath := filepath.Join(dir, "pid")
	fi, err := os.Stat(pidPath)
	if err != nil {
		t.Fatal(err)
	}
	namePid(t, pidPath, decoy.Process.Pid, fi.ModTime())
	return decoy
}

// TestCancelNotTakenByADecoyWrapper: where the job has no launch record
// (launched before they were kept), its pid file's process was taken for
// the job's wrapper on its command line alone, and cached for good: a
// decoy leading its own session, its command line the wrapper's, named
// there (by a workload that could write its job's directory) was
// signalled in the job's place, killed at the grace, then signalled
// again and again while the job ran on, holding its run lock, until
// Cancel's caller gave up. The pid file's process is now the wrapper only
// where it holds the run lock as the wrapper does.
func TestCancelNotTakenByADecoyWrapper(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 200 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	h, dir := runningJob(t, b, "decoy")
	if err := os.Remove(filepath.Join(b.StateDir(), "launches", h)); err != nil {
		t.Fatal(err)
	}
	decoyWrapper(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatalf("Cancel with a decoy wrapper named in the pid file: %v", err)
	}
	if held, err := local.RunLockHeld(dir); err != nil || held {
		t.Fatalf("after Cancel the job's run lock is held: %v, %v", held, err)
	}
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Cancelled {
		t.Fatalf("status %+v, %v; want cancelled", st, err)
	}
}

// TestCancelSparesAProcessGivenTheLaunchedPid: the launch record's pid
// was the wrapper's wherever a process leading its own session with the
// wrapper's command line had it: one given the pid later (the wrapper
// gone, the pid reused) was signalled in the job's place. The record now
// keeps the wrapper's start time too, and a process begun at another
// time is not the wrapper. Here the record is made to name a decoy,
// its start time left the wrapper's: Cancel stops the job and leaves the
// decoy be.
func TestCancelSparesAProcessGivenTheLaunchedPid(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 200 * time.Millisecond
	b.TreeWait = 300 * time.Millisecond
	h, dir := runningJob(t, b, "reusedlaunch")
	decoy := decoyWrapper(t, dir)
	path := filepath.Join(b.StateDir(), "launches", h)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["start"]; !ok {
		t.Fatalf("the launch record keeps no start time: %s", data)
	}
	rec["pid"] = decoy.Process.Pid
	if data, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if held, err := local.RunLockHeld(dir); err != nil || held {
		t.Fatalf("after Cancel the job's run lock is held: %v, %v", held, err)
	}
	if !running(decoy.Process.Pid) {
		t.Fatal("the process the launch record was made to name, begun after the wrapper, was signalled in its place")
	}
}
