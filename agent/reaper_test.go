package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// escapeScript is a workload that starts two processes which leave its
// process group for a session of their own: one by setsid, one as a
// double-forked daemon (its parent exits at once, so it is nobody's child
// of the workload's any more). Each writes its pid to a file in dir. When
// keepOutput is set the first keeps the workload's output open, as a
// daemon that forgot to close it does. The script then runs rest. (The
// agent expands the command's $(NAME)s, and $$ to $: the shell's $$ is
// written $$$$.)
func escapeScript(dir string, keepOutput bool, rest string) string {
	out := "</dev/null >/dev/null 2>&1"
	first := out
	if keepOutput {
		first = "</dev/null"
	}
	return fmt.Sprintf(`cd %q
setsid sh -c 'echo $$$$ > "$0"; exec sleep 1000' p1 %s &
( setsid sh -c 'echo $$$$ > "$0"; exec sleep 1000' p2 %s & )
while [ ! -s p1 ] || [ ! -s p2 ]; do sleep 0.01; done
echo escaped
%s`, dir, first, out, rest)
}

// escapees returns the pids the escape script wrote, once both are there.
func escapees(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	for _, f := range []string{"p1", "p2"} {
		p := filepath.Join(dir, f)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			raw, err := os.ReadFile(p)
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && perr == nil && pid > 0 {
				pids = append(pids, pid)
				t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the workload did not start %s: %q", f, raw)
			}
		}
	}
	return pids
}

// running reports whether pid runs (exists and is no zombie).
func running(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i:], ") Z")
}

// assertGone fails unless every pid has ended within bound.
func assertGone(t *testing.T, what string, pids []int, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
				t.Errorf("%s: pid %d, which the workload started in a session of its own, still runs %s after the attempt ended: %s", what, pid, bound, st)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestWorkloadLeavesNothingBehind: what a workload starts in a session of
// its own (setsid, a double-forked daemon) escaped the kill of the
// workload's process group and ran on after the attempt ended, with the
// attempt's GPU and scratch; one that kept the workload's output open kept
// the agent from ever ending. Now nothing the workload started outlives
// the attempt, however it ends: by itself, stopped by the server, or
// killed after it ignored SIGTERM when the lease lapsed.
func TestWorkloadLeavesNothingBehind(t *testing.T) {
	const bound = 5 * time.Second
	t.Run("ends", func(t *testing.T) {
		dir := t.TempDir()
		_, _, _, done := startAgent(t, escapeScript(dir, false, "exit 3"), 0, nil)
		pids := escapees(t, dir)
		if code, err := wait(t, done); code != 3 || err != nil {
			t.Errorf("Run = %d, %v; want the workload's exit code 3", code, err)
		}
		assertGone(t, "a workload that exited", pids, bound)
	})
	t.Run("keeps-output", func(t *testing.T) {
		dir := t.TempDir()
		_, _, _, done := startAgent(t, escapeScript(dir, true, "exit 0"), 0, nil)
		pids := escapees(t, dir)
		if code, err := wait(t, done); code != 0 || err != nil {
			t.Errorf("Run = %d, %v; want 0", code, err)
		}
		assertGone(t, "a workload whose daemon kept its output", pids, bound)
	})
	t.Run("stopped", func(t *testing.T) {
		dir := t.TempDir()
		srv, _, _, done := startAgent(t, escapeScript(dir, false, "sleep 1000"), 0, nil)
		pids := escapees(t, dir)
		srv.stop.Store(true)
		code, _ := wait(t, done)
		if code != 128+int(syscall.SIGTERM) {
			t.Errorf("Run = %d; want %d, the workload ended by SIGTERM", code, 128+int(syscall.SIGTERM))
		}
		assertGone(t, "a workload the server stopped", pids, bound)
	})
	t.Run("fenced", func(t *testing.T) {
		dir := t.TempDir()
		srv, _, _, done := startAgent(t, "trap '' TERM\n"+escapeScript(dir, false, "while :; do sleep 0.05; done"), time.Second, nil)
		pids := escapees(t, dir)
		srv.down.Store(true)
		if code, _ := wait(t, done); code != ExitLease {
			t.Errorf("Run = %d; want %d", code, ExitLease)
		}
		assertGone(t, "a workload killed when the lease lapsed", pids, bound)
	})
}
