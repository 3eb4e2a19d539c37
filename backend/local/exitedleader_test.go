package local

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// exitedLeaderEnv has the test binary, started for
// TestCmdLockHolderWhoseMainThreadExited, end its main thread at once and
// run on in its other threads (the Go runtime's), the descriptors it was
// given open.
const exitedLeaderEnv = "MERIDIAN_EXITED_LEADER"

func init() {
	if os.Getenv(exitedLeaderEnv) == "" {
		return
	}
	// init runs on the main thread; locked to it, the raw exit ends
	// that thread alone, as pthread_exit in a C program's main does.
	runtime.LockOSThread()
	unix.RawSyscall(unix.SYS_EXIT, 0, 0, 0)
}

// TestCmdLockHolderWhoseMainThreadExited: a process of the command whose
// main thread exited while its other threads ran on with the command
// lock read as a zombie with no descriptors, and the scan skipped it:
// Cancel never signalled it and failed while it ran. Its threads'
// descriptors are read now, and it is found and killed.
func TestCmdLockHolderWhoseMainThreadExited(t *testing.T) {
	dir := t.TempDir()
	f, err := openCmdLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), exitedLeaderEnv+"=1")
	c.ExtraFiles = []*os.File{f}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	t.Cleanup(func() { c.Process.Kill(); <-done })
	pid := c.Process.Pid
	var st procStat
	for deadline := time.Now().Add(10 * time.Second); !st.zombie; time.Sleep(10 * time.Millisecond) {
		var ok bool
		if st, ok = readStat(pid); !ok || time.Now().After(deadline) {
			t.Fatal("the child's main thread did not exit with the child alive")
		}
	}
	held, _ := cmdLockHolders(dir, time.Now().Add(time.Hour))
	if start, ok := held[pid]; !ok || start != st.start || len(held) != 1 {
		t.Fatalf("holders %v; want the child %d, its main thread gone, alone", held, pid)
	}
	signalStarted(pid, st.start, unix.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the child runs on after SIGKILL to it")
	}
}
