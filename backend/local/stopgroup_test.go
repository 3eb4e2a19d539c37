package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestStopGroupSignalsACommandBegunAfterTheSignal: a wrapper that takes the
// group's SIGTERM in its trap and only then begins its command (the window
// between its check for a stop and the command's start, widened here to
// half a second) left the command without a signal: it ran until the
// grace's SIGKILL. stopGroup now signals a child of the wrapper that was
// not there when the group was signalled, and the stop ends well within
// the grace.
func TestStopGroupSignalsACommandBegunAfterTheSignal(t *testing.T) {
	dir := t.TempDir()
	cmd := slowWrapper(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The wrapper is in its half second: the group is signalled before
	// its command begins.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := stopGroup(ctx, dir, syscall.SIGTERM, time.Minute)
	if err != nil {
		t.Fatalf("stopGroup: %v after %s; the command begun after the signal ran on (children of the wrapper: %v)",
			err, time.Since(start).Round(time.Millisecond), children(cmd.Process.Pid))
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
}

// slowWrapper starts, in a new session holding dir's run lock, a wrapper
// that takes the group's SIGTERM in its trap and, once dir/go exists,
// waits half a second before it begins its command (sleep 60, without the
// lock). It returns the wrapper once its pid is written in dir; the test's
// end kills its group.
func slowWrapper(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// The lock stays with the wrapper (fd 3), not with its command.
	script := `d="$1"; trap 'stop=1' TERM
printf '%s\n' "$$" >"$d/pid"
while [ ! -e "$d/go" ]; do sleep 0.01; done
sleep 0.5
sleep 60 3>&-`
	// Named as launch names the real one, which stopGroup looks for.
	cmd := exec.Command("/bin/sh", "-c", script, "meridian-job", dir)
	cmd.ExtraFiles = []*os.File{lock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-done })
	for readPid(dir) != cmd.Process.Pid {
		time.Sleep(10 * time.Millisecond)
	}
	return cmd
}

// TestStopGroupLooksTheWrapperUpAgain: stopGroup kept the first pid it
// took for the wrapper's for good. One that was not (a decoy leading its
// own session that passed for it) was signalled, ended, and was
// signalled again and again while the job's wrapper held its run lock,
// until the caller gave up with the job running. Once the group it
// signalled is gone and the lock is still held, it now looks the
// wrapper up again and stops it.
func TestStopGroupLooksTheWrapperUpAgain(t *testing.T) {
	dir := t.TempDir()
	slowWrapper(t, dir)
	decoy := exec.Command("sleep", "60")
	decoy.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { decoy.Wait(); close(done) }()
	t.Cleanup(func() { decoy.Process.Kill(); <-done })
	old := lookUpWrapper
	t.Cleanup(func() { lookUpWrapper = old })
	first := true
	lookUpWrapper = func(dir string) int {
		if first {
			first = false
			return decoy.Process.Pid
		}
		return old(dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := stopGroup(ctx, dir, syscall.SIGTERM, 200*time.Millisecond); err != nil {
		t.Fatalf("stopGroup after it took a decoy for the wrapper: %v", err)
	}
	if held, err := runLockHeld(dir); err != nil || held {
		t.Fatalf("the run lock is still held: %v, %v", held, err)
	}
}
