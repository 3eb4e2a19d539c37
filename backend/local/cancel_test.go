package local_test

import (
	"context"
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
