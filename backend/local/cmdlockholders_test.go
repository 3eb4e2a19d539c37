package local_test

import (
	"context"
	"os"
	"os/exec"
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

// orphanedEscapee submits a job whose command starts a process that
// leaves its session and runs escaped (escapingJobWith), kills the rest
// of the job (its wrapper alone, then its group) and returns the job's
// handle and directory and the escaped process's pid, which alone holds
// the job's command lock.
func orphanedEscapee(t *testing.T, b *local.Local, run, escaped string) (string, string, int) {
	t.Helper()
	h, dir, pid, esc := escapingJobWith(t, b, run, escaped, "sleep 60")
	killWrapperAlone(t, dir, pid)
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if !running(esc) {
		t.Fatal("the escaped process ended with the group")
	}
	return h, dir, esc
}

// TestCancelSparesWhatOnlyHasTheCommandLockOpen: Cancel took every
// process with the job's command lock open for one of the job's command,
// and signalled it: the server itself (a Status looking at the lock as
// Cancel scanned), a peer server, a copy or a backup of the state
// directory. Only a process holding the lock itself, taken at the launch,
// is the job's now: both opens survive Cancel, and the command is stopped.
func TestCancelSparesWhatOnlyHasTheCommandLockOpen(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 5 * time.Second
	b.TreeWait = 5 * time.Second
	h, dir, esc := orphanedEscapee(t, b, "opened", "exec sleep 60")
	lock := filepath.Join(dir, "cmd.lock")
	// A process that reads the file (a backup, a peer's probe)...
	reader := exec.Command("/bin/sh", "-c", `exec sleep 60 <"$0"`, lock)
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Process.Kill(); reader.Wait() })
	// ...and this process, as a Status beside the Cancel.
	f, err := os.Open(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	defer signal.Stop(terms)
	// The reader has the file open before Cancel looks.
	for deadline := time.Now().Add(10 * time.Second); !hasOpen(reader.Process.Pid, lock); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reader never opened the command lock")
		}
	}
	if err := b.Cancel(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if running(esc) {
		t.Fatal("Cancel left the job's command running")
	}
	select {
	case <-terms:
		t.Error("Cancel sent SIGTERM to the server's own process, which had the command lock open")
	default:
	}
	if !running(reader.Process.Pid) {
		t.Error("Cancel stopped a process that only had the job's command lock open to read")
	}
}

// hasOpen says whether process pid has path open.
func hasOpen(pid int, path string) bool {
	fds := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(fds)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if target, err := os.Readlink(fds + "/" + e.Name()); err == nil && target == path {
			return true
		}
	}
	return false
}

// TestCmdLockHoldersAreTheLocksHolders: the holders Cancel finds are the
// processes holding the command lock, not every one with the file open.
func TestCmdLockHoldersAreTheLocksHolders(t *testing.T) {
	b := newLocal(t, t.TempDir())
	_, dir, esc := orphanedEscapee(t, b, "holders", "exec sleep 60")
	f, err := os.Open(filepath.Join(dir, "cmd.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := local.CmdLockHolders(dir)
	if _, ok := got[esc]; !ok || len(got) != 1 {
		t.Fatalf("holders %v; want the escaped process %d alone", got, esc)
	}
}

// TestStatusSetsTheCommandLocksModeBack: the probe of the job's command
// lock set a mode a workload changed back to the run lock's 0644, not
// the command lock's own 0600.
func TestStatusSetsTheCommandLocksModeBack(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	h, dir := runningJob(t, b, "cmdlockmode")
	killWrapperAlone(t, dir, readPid(t, b, h))
	lock := filepath.Join(dir, "cmd.lock")
	if err := os.Chmod(lock, 0); err != nil {
		t.Fatal(err)
	}
	var st backend.Status
	err := asTheServersUser(t, func() (err error) {
		st, err = b.Status(ctx, h)
		return err
	})
	if err != nil || st.State != backend.Running {
		t.Fatalf("status %+v, %v; want running", st, err)
	}
	fi, err := os.Stat(lock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the command lock's mode after a Status: %v; want 0600", fi.Mode().Perm())
	}
}

// TestCancelFailsWhileTheCommandRunsOn: Cancel returned nil where a
// process holding the job's command lock still ran at its end (one deaf
// to SIGTERM, its grace not over): the job read cancelled and its
// accelerators free while its command ran on. Cancel now fails.
func TestCancelFailsWhileTheCommandRunsOn(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Minute
	b.TreeWait = 300 * time.Millisecond
	h, _, esc := orphanedEscapee(t, b, "deaf", `trap "" TERM; exec sleep 60`)
	err := b.Cancel(context.Background(), h)
	if !running(esc) {
		t.Fatal("the process deaf to SIGTERM ended: the test stands for nothing")
	}
	if err == nil || !strings.Contains(err.Error(), "still runs") {
		t.Fatalf("Cancel with the job's command running on: %v; want an error saying so", err)
	}
}
