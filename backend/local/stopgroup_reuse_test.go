package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// takePid starts `sleep 60` as process pid, which must have ended: the
// pid namespace's next pid is set to it (root only) until a start gets it.
// It returns the process, or nil when the pid could not be had.
func takePid(t *testing.T, pid int) *exec.Cmd {
	for range 200 {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot choose the next pid (%v): the test needs root", err)
		}
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if cmd.Process.Pid == pid {
			return cmd
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	return nil
}

// TestStopGroupSparesAReusedChildPid: stopGroup read a child of the wrapper
// (its command line: the command, begun after the group's signal) and then
// signalled its pid with kill(2). A child that ended in between left its
// pid free, and a process given it next (anyone's) got the SIGTERM meant
// for the job. The child is now signalled through a pidfd, only while it
// is still the process that began at the start time read before its
// command line: here the child is swapped for another process under the
// same pid between the read and the signal, and that process is left be.
func TestStopGroupSparesAReusedChildPid(t *testing.T) {
	dir := t.TempDir()
	slowWrapper(t, dir)

	var decoy *exec.Cmd
	old := beforeChildSignal
	t.Cleanup(func() { beforeChildSignal = old })
	beforeChildSignal = func(pid int) {
		// The command; not a sleep of the wrapper's own loop that the
		// group's signal came too early or too late for.
		st, ok := readStat(pid)
		if decoy != nil || !ok || cmdline(pid) != "sleep\x0060\x00" {
			return
		}
		// The child ends (its wrapper reaps it) and another process
		// begins under its pid, at a later clock tick.
		syscall.Kill(pid, syscall.SIGKILL)
		for {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		for bootTicksAt(time.Now()) <= st.start {
			time.Sleep(time.Millisecond)
		}
		decoy = takePid(t, pid)
	}

	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := stopGroup(ctx, dir, syscall.SIGTERM, time.Minute); err != nil {
		t.Fatalf("stopGroup: %v", err)
	}
	if decoy == nil {
		t.Fatal("no process could be started under the child's pid")
	}
	decoy.Process.Signal(syscall.SIGKILL)
	decoy.Wait()
	ws := decoy.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() && ws.Signal() == syscall.SIGTERM {
		t.Fatalf("the process given the ended child's pid %d got the job's SIGTERM", decoy.Process.Pid)
	}
}
