//go:build linux

package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// shortPoll makes serve refuse its flags right after it made itself
// undumpable and looked for a tracer, so that a serve that does not look
// exits too rather than serving.
var shortPoll = []string{"--poll", "1ns"}

// runServeBrief runs serve with args until it exits, as cred (nil: this
// process's user), traced by this test when traced is set, and returns
// its error output. Its error output goes to a file, not a pipe: a
// traced child is waited for here, with wait4, not by exec.Cmd.Wait.
func runServeBrief(t *testing.T, bin string, cred *syscall.Credential, traced bool, args ...string) string {
	t.Helper()
	errOut, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errOut.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--state", filepath.Join(t.TempDir(), "state")}, args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Ptrace: traced}
	if !traced {
		if err := cmd.Run(); err == nil {
			t.Fatalf("serve %v started; want it to refuse its flags", args)
		}
	} else {
		// The tracer is the thread that started the child: every ptrace
		// call must come from it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		traceUntilExit(t, cmd.Process.Pid)
	}
	b, err := os.ReadFile(errOut.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// traceUntilExit lets a traced child run, passing it the signals it gets
// (the Go runtime's own among them), until it exits.
func traceUntilExit(t *testing.T, pid int) {
	t.Helper()
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); errors.Is(err, syscall.EINTR) {
			continue
		} else if err != nil {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		if ws.Exited() || ws.Signaled() {
			return
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		if sig == syscall.SIGTRAP {
			sig = 0 // the stop at its exec: the tracer's, not the child's
		}
		if err := syscall.PtraceCont(pid, int(sig)); err != nil {
			t.Fatalf("ptrace(PTRACE_CONT, %d): %v", pid, err)
		}
	}
}

// TestServeRefusesATracer: a process that traces serve from before it
// makes itself undumpable (started it traced, or attached in the moment
// after its exec) keeps reading its memory afterwards, so serve refuses
// to start, naming the tracer: here this test, which starts it traced.
func TestServeRefusesATracer(t *testing.T) {
	out := runServeBrief(t, binary(t), nil, true, shortPoll...)
	m := regexp.MustCompile(`process (\d+) \(([^)]*)\) traces it`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "refused to start") {
		t.Fatalf("serve started by a tracer said:\n%s\nwant it to refuse to start, naming the tracer", out)
	}
	// The tracer is the thread that started serve: one of this process's.
	if _, err := os.Stat(filepath.Join("/proc/self/task", m[1])); err != nil {
		t.Fatalf("serve named process %s as its tracer, not one of this test's threads: %v", m[1], err)
	}
	if strings.Contains(out, "--poll") {
		t.Fatalf("serve read its flags before it looked for a tracer:\n%s", out)
	}
	// Untraced, the same serve goes on to its flags.
	if out := runServeBrief(t, binary(t), nil, false, shortPoll...); strings.Contains(out, "traces it") || !strings.Contains(out, "--poll") {
		t.Fatalf("serve, not traced, said:\n%s\nwant it to refuse --poll alone", out)
	}
}

// TestServeWarnsOfAReadableExecutable: a serve whose user can read its
// executable is dumpable from its exec until it makes itself undumpable,
// and a process of its user may open its memory in that moment; serve
// warns so. One whose user cannot read it (here mode 0111: as root, serve
// runs as another user, and the owner's bits keep a non-root owner out)
// is started undumpable by the kernel, and is not warned.
func TestServeWarnsOfAReadableExecutable(t *testing.T) {
	var as *syscall.Credential
	if os.Getuid() == 0 {
		const nobody = 65534
		as = &syscall.Credential{Uid: nobody, Gid: nobody}
	}
	const warning = "can read "
	readable := binary(t)
	if out := runServeBrief(t, readable, as, false, shortPoll...); !strings.Contains(out, warning) || !strings.Contains(out, readable) {
		t.Fatalf("serve of a readable executable said:\n%s\nwant a warning naming %s", out, readable)
	}

	// Serve's user passes through the test's directories to it.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	unreadable := filepath.Join(dir, "meridian")
	copyFile(t, readable, unreadable)
	if err := os.Chmod(unreadable, 0o111); err != nil {
		t.Fatal(err)
	}
	if out := runServeBrief(t, unreadable, as, false, shortPoll...); strings.Contains(out, warning) || !strings.Contains(out, "--poll") {
		t.Fatalf("serve of an executable its user cannot read said:\n%s\nwant no warning, and --poll refused", out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStatusWithoutTracerPid: a status the look cannot read a TracerPid
// from is an error, not an untraced serve.
func TestStatusWithoutTracerPid(t *testing.T) {
	for _, status := range []string{"Name:\tmeridian\nPid:\t7\n", "TracerPid:\tx\n", ""} {
		if pid, err := statusTracerPid([]byte(status)); err == nil {
			t.Errorf("status %q: TracerPid %d, want an error", status, pid)
		}
	}
	if pid, err := statusTracerPid([]byte("Name:\tm\nTracerPid:\t42\nUid:\t0\n")); pid != 42 || err != nil {
		t.Errorf("TracerPid 42 read as %d, %v", pid, err)
	}
}
