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
