package local_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestCancelKillsAJobIgnoringSIGTERM: Cancel sends the job's group SIGTERM
// and SIGKILL after the grace. The wrapper ended with the SIGTERM and let
// go of its lock, so Cancel took the job for ended and never sent SIGKILL:
// a job that ignored SIGTERM ran on for good.
func TestCancelKillsAJobIgnoringSIGTERM(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 300 * time.Millisecond
	pidFile := filepath.Join(t.TempDir(), "pid")
	h, err := b.Submit(ctx, backend.Spec{RunID: "stubborn", Attempt: 1,
		Command: []string{"/bin/sh", "-c", `trap '' TERM; echo $$ > "$0"; while :; do sleep 0.05; done`, pidFile}})
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		raw, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	start := time.Now()
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job (pid %d) runs on 5 s after Cancel returned (in %s): %s", pid, took, st)
		}
	}
	if took < b.CancelGrace {
		t.Errorf("Cancel returned after %s, before the grace (%s) for a job ignoring SIGTERM", took, b.CancelGrace)
	}
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Cancelled {
		t.Errorf("Status = %+v, %v; want cancelled", st, err)
	}
}

// TestCancelRightAfterSubmit: a Cancel that comes while the wrapper is
// still starting (its pid written, its command not yet begun) signals the
// wrapper alone, which outlives SIGTERM; the command then began and ran
// until the grace's SIGKILL, or, with a deadline shorter than the grace,
// on for good. Cancelled before its command began, the job does not begin
// it.
func TestCancelRightAfterSubmit(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Minute
	for i := 0; i < 20; i++ {
		h, err := b.Submit(ctx, backend.Spec{RunID: "quick", Attempt: i + 1, Command: []string{"sleep", "60"}})
		if err != nil {
			t.Fatal(err)
		}
		// Cancel as soon as the wrapper is known to live, as a controller
		// that finds the job at once does.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if st, err := b.Status(ctx, h); err == nil && st.State == backend.Running {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the job did not start")
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = b.Cancel(cctx, h)
		cancel()
		if err != nil {
			b.Cancel(ctx, h) // within the minute's grace: SIGKILL
			t.Fatalf("try %d: Cancel right after the job started: %v; the job ran on past its deadline", i, err)
		}
	}
}

// TestCancelKeepsTheCommandsExitCode: a command that takes SIGTERM and
// ends with a code of its own has that code recorded: the wrapper's own
// commands that record it, begun after the signal, are not stopped by it.
func TestCancelKeepsTheCommandsExitCode(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Minute
	for i := 0; i < 10; i++ {
		h, err := b.Submit(ctx, backend.Spec{RunID: "own-code", Attempt: i + 1,
			Command: []string{"/bin/sh", "-c", `trap 'exit 42' TERM; echo ready; sleep 60 & wait`}})
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			r, err := b.Logs(ctx, h)
			if err == nil {
				out, _ := io.ReadAll(r)
				r.Close()
				if strings.Contains(string(out), "ready") {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the job did not start")
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = b.Cancel(cctx, h)
		cancel()
		if err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
		if st, err := b.Status(ctx, h); err != nil || st.State != backend.Cancelled || st.ExitCode != 42 {
			t.Fatalf("try %d: Status = %+v, %v; want cancelled with the command's exit code 42", i, st, err)
		}
	}
}
