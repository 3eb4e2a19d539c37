package audit

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/internal/flock"
)

// holderEnv names, in the helper process TestAnchorLockHolderNameEscaped
// starts, the lock file it holds.
const holderEnv = "MERIDIAN_AUDIT_TEST_LOCK_HOLDER"

// TestAnchorLockHolderNameEscaped: an anchor update that gives up waiting
// for anchor.lock names the process holding it, with the name the
// process gave itself (/proc/PID/comm), which any process may set to what
// it likes. Whoever can write the anchor directory can hold its lock, so
// that name, escape sequences included, went as it was into the error
// that a server's start prints to the operator's terminal. It is now
// quoted.
func TestAnchorLockHolderNameEscaped(t *testing.T) {
	if path := os.Getenv(holderEnv); path != "" {
		holdLockAs(path, "\x1b]0;own\x07\x1b[2J")
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("the holder is named from /proc/locks, on Linux only")
	}
	if _, err := os.Stat("/proc/locks"); err != nil {
		t.Skipf("no /proc/locks: %v", err)
	}
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAnchorLockHolderNameEscaped$")
	cmd.Env = append(os.Environ(), holderEnv+"="+filepath.Join(dir, anchorLock))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "holding" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the helper did not take the lock")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the helper did not take the lock within 20 s")
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm"); err != nil || !strings.Contains(string(b), "\x1b") {
		t.Skipf("the helper could not name itself (%q, %v)", b, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = an.Extend(ctx, 3, es[2].Hash, memLog(&es), time.Now())
	if err == nil {
		t.Fatal("the anchor was extended while another process held its lock")
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(cmd.Process.Pid)) {
		t.Skipf("the holder is not named here: %v", err)
	}
	controlFree(t, "error", err.Error())
}

// holdLockAs takes the lock at path, names this process name, says so on
// standard output and waits to be killed.
func holdLockAs(path, name string) {
	if _, err := flock.Lock(context.Background(), path); err != nil {
		os.Exit(2)
	}
	// /proc/self/comm is the main thread's name, which /proc/PID/comm
	// reads; any thread of the process may set it.
	os.WriteFile("/proc/self/comm", []byte(name), 0)
	os.Stdout.WriteString("holding\n")
	time.Sleep(time.Minute)
	os.Exit(0)
}
