package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
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

// TestReaperWithoutAgentStartsNothing: the reaper's parent-death signal
// is lost when the agent dies between the reaper's exec and its
// signal.Notify (the Go runtime ignores the signal until then), and the
// reaper, re-parented, went on to start the workload, which then ran to
// its end with no agent to watch or stop it. Now a reaper whose parent is
// not the agent that started it exits at once, starting nothing. The
// reaper is made as the agent makes it, naming this process as its agent;
// started by a shell that forks it (so its parent is not the agent, as
// after a re-parenting), it must not start the workload, while started by
// this process itself it does.
func TestReaperWithoutAgentStartsNothing(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Exe: exe, SandboxExec: []string{exe, "__agent"}}
	start := func(t *testing.T, viaShell bool) (string, int, string) {
		t.Helper()
		dir := t.TempDir()
		marker := filepath.Join(dir, "started")
		cmd, err := workloadCommand(cfg, Sandbox{Mode: SandboxNone}, dir, []string{"/bin/sh", "-c", `echo $$ > "$0"`, marker}, []string{"PATH=/usr/bin:/bin"})
		if err != nil {
			t.Fatal(err)
		}
		if viaShell {
			// The shell runs the reaper as its child and waits, so
			// that it is the reaper's parent; it keeps fd 3, the
			// environment pipe, open for the reaper.
			cmd.Args = append([]string{"/bin/sh", "-c", `"$@"; exit $?`, "sh"}, cmd.Args...)
			cmd.Path = "/bin/sh"
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		return marker, cmd.ProcessState.ExitCode(), out.String()
	}
	t.Run("parent-is-agent", func(t *testing.T) {
		marker, code, out := start(t, false)
		if _, err := os.Stat(marker); err != nil || code != 0 {
			t.Fatalf("the reaper started by its agent did not run the workload: exit %d, %v, output %q", code, err, out)
		}
	})
	t.Run("bad-parent", func(t *testing.T) {
		for _, args := range [][]string{{"reap", "sandbox-exec"}, {"reap", "--parent", "x", "sandbox-exec"}, {"reap", "--parent", "0", "sandbox-exec"}} {
			cmd := exec.Command(exe, append([]string{"__agent"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--parent") {
				t.Errorf("%q: %v, output %q; want a failure naming --parent", args, err, out)
			}
		}
	})
	t.Run("parent-is-not-agent", func(t *testing.T) {
		marker, code, out := start(t, true)
		if raw, err := os.ReadFile(marker); err == nil {
			t.Fatalf("a reaper whose parent is not its agent started the workload (pid %s); exit %d, output %q", strings.TrimSpace(string(raw)), code, out)
		}
		if code == 0 || !strings.Contains(out, "not starting the workload") {
			t.Errorf("reaper without its agent: exit %d, output %q; want a non-zero exit saying it starts nothing", code, out)
		}
	})
}

// spareEnv, set in a test reaper's environment (the helper script's
// prelude exports it), names a program whose processes that reaper does
// not kill, and shortens its bound to a second: it stands in for a kernel
// that does not let a process end (one stuck in an uninterruptible wait,
// which no unprivileged test can make). The process spared is real and
// goes on running.
const spareEnv = "MERIDIAN_TEST_REAP_SPARE"

// spareInReaper applies spareEnv in a test binary started as a reaper.
func spareInReaper() {
	name := os.Getenv(spareEnv)
	if name == "" {
		return
	}
	reapGiveUp = time.Second
	kill := killProcess
	killProcess = func(pid int, start uint64) {
		if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == name {
			return
		}
		kill(pid, start)
	}
}

// TestKilledReaperLeavesNothing: in sandbox mode none the workload runs as
// the agent's user and can kill or stop its reaper. Killed, the reaper left
// what the workload had started in sessions of its own running (re-parented
// to init), and the attempt ended as if the reaper had done its work;
// stopped, it neither reaped nor killed, and the agent waited on it for
// ever. Now the agent is a subreaper too: it kills a stopped reaper, ends
// whatever a dead one left, and the attempt fails (never succeeds), saying
// why, though the workload's last word was exit 0.
func TestKilledReaperLeavesNothing(t *testing.T) {
	for _, sig := range []string{"KILL", "STOP"} {
		t.Run(sig, func(t *testing.T) {
			dir := t.TempDir()
			// The workload's shell is the reaper's child: $PPID is the
			// reaper.
			srv, _, _, done := startAgent(t, escapeScript(dir, false, "kill -"+sig+" $$PPID\nexit 0"), 0, nil)
			pids := escapees(t, dir)
			code, err := wait(t, done)
			if code == 0 || err == nil || !strings.Contains(err.Error(), "reaper") {
				t.Errorf("Run = %d, %v; want a failure saying the reaper was ended", code, err)
			}
			assertGone(t, "a workload that ended its reaper with SIG"+sig, pids, 5*time.Second)
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.exits) != 1 || srv.exits[0].Code == 0 || !strings.Contains(srv.exits[0].Detail, "reaper") {
				t.Errorf("exit reports %+v; want one, not 0, saying the reaper was ended", srv.exits)
			}
		})
	}
}

// TestStuckProcessIsNoFinishedAttempt: a process the workload started that
// outlives the reaper's kills (stuck in the kernel with SIGKILL pending, as
// a driver's uninterruptible wait leaves it) still holds what it held. The
// reaper gave up on it after its bound and exited with the workload's code,
// and the attempt was reported finished, a success for a workload that
// exited 0, while the process ran on. Now the agent exits with ExitLost and
// reports the attempt lost, not ended, naming what is left.
func TestStuckProcessIsNoFinishedAttempt(t *testing.T) {
	// keeps-output: the process also keeps the workload's output open,
	// so the agent's wait for the reaper ends by its WaitDelay, which read
	// as a reaper that failed to start (ExitSetup) and ended without its
	// report.
	for _, keep := range []bool{false, true} {
		name := "closes-output"
		if keep {
			name = "keeps-output"
		}
		t.Run(name, func(t *testing.T) { stuckProcess(t, keep) })
	}
}

func stuckProcess(t *testing.T, keepOutput bool) {
	redirect := "</dev/null >/dev/null 2>&1"
	if keepOutput {
		redirect = "</dev/null"
	}
	dir := t.TempDir()
	// A program of its own name, which the test reaper spares.
	stuck := filepath.Join(dir, "stuckprog")
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stuck, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`cd %q
setsid sh -c 'echo $$$$ > p; exec ./stuckprog 1000' %s &
while [ ! -s p ]; do sleep 0.01; done
exit 0`, dir, redirect)
	srv, _, _, done := startAgentWith(t, script, "export "+spareEnv+"=stuckprog", 0, nil)
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		raw, _ := os.ReadFile(filepath.Join(dir, "p"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		if time.Now().After(deadline) {
			t.Fatal("the workload did not start its process")
		}
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	code, err := wait(t, done)
	if code != ExitLost || err == nil || !strings.Contains(err.Error(), "stuck in the kernel") {
		t.Errorf("Run = %d, %v; want %d (lost), saying a process is stuck", code, err, ExitLost)
	}
	if !running(pid) {
		t.Fatal("the spared process ended: the reaper was taken for dead, or the test stands for nothing")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.exits) != 1 || !srv.exits[0].Lost || srv.exits[0].Code != 0 {
		t.Errorf("exit reports %+v; want one, lost, with the workload's own code 0", srv.exits)
	}
}

// TestHelperLeavesNothingBehind: the pack helper runs as the workload's
// user, and the workload may take it over where nothing else keeps it out
// (sandbox mode none; uid mode on a kernel without Landlock). A process it
// started in a session of its own outlived the attempt: the helper is the
// agent's child, not the reaper's. Now what a helper leaves comes to the
// agent, which ends it before it reports the attempt's end.
func TestHelperLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "p1")
	// The helper script's prelude runs in every helper; in the pack
	// helper it starts a process that outlives it.
	prelude := fmt.Sprintf(`if [ "$2" = pack ] && [ ! -s %[1]q ]; then setsid sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0"; exec sleep 1000' %[1]q </dev/null >/dev/null 2>&1 &
while [ ! -s %[1]q ]; do sleep 0.01; done; fi`, pidFile)
	script := `cd "$MERIDIAN_CHECKPOINT_DIR"
head -c 1000 /dev/urandom > .tmp && mv .tmp step-10`
	_, _, _, done := startAgentWith(t, script, prelude, 0, nil)
	code, err := wait(t, done)
	raw, rerr := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	if rerr != nil || pid <= 0 {
		t.Fatalf("the pack helper did not start its process: %v %q", rerr, raw)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if code != 0 || err != nil {
		t.Errorf("Run = %d, %v; want 0", code, err)
	}
	assertGone(t, "a process the pack helper started", []int{pid}, 5*time.Second)
}

// hopperScript is a fork-hopper: a shell that forks itself and exits, its
// child doing the same, for as long as the file go is in its directory,
// so that at any moment one process of it runs, under another pid a
// fraction of a millisecond later. (Every 500 generations it starts
// afresh by an exec, as the shell's function calls nest.)
const hopperScript = `f() {
	n=$((n+1))
	[ -e go ] || exit 0
	if [ "$n" -ge 500 ]; then exec ./hopsh hop.sh; fi
	f &
}
n=0
f
`

// TestReaperCountsAForkHopper: when the reaper gives up on what it could
// not end, it counted what was left by one look through /proc, and a
// fork-hopper is gone by the time a look reads its stat, its child never
// listed: the look found nothing most times, and the reaper reported that
// nothing was left while the hopper ran on. The agent then took the
// workload's end for the attempt's. Now the reaper asks the kernel whether
// a child of its own still runs, which no hopper escapes, and the attempt
// is lost. The hopper stands for one that outruns the reaper's kills: the
// test reaper spares it (spareEnv), as one stuck in the kernel is. Three
// rounds, as one look found the hopper in about one try in four: the
// test fails then nearly every time, and with the kernel's word never.
func TestReaperCountsAForkHopper(t *testing.T) {
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(sh)
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "hopsh"), raw, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hop.sh"), []byte(hopperScript), 0o644); err != nil {
			t.Fatal(err)
		}
		goFile := filepath.Join(dir, "go")
		if err := os.WriteFile(goFile, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(goFile) })
		script := fmt.Sprintf("cd %q\n./hopsh hop.sh </dev/null >/dev/null 2>&1 &\nsleep 0.2\nexit 0", dir)
		srv, _, _, done := startAgentWith(t, script, "export "+spareEnv+"=hopsh", 0, nil)
		code, err := wait(t, done)
		if code != ExitLost || err == nil || !strings.Contains(err.Error(), "still ran") {
			t.Fatalf("round %d: Run = %d, %v; want %d (lost): the hopper ran when the reaper gave up", round, code, err, ExitLost)
		}
		srv.mu.Lock()
		exits := srv.exits
		srv.mu.Unlock()
		if len(exits) != 1 || !exits[0].Lost {
			t.Fatalf("round %d: exit reports %+v; want one, lost", round, exits)
		}
	}
}

// TestAgentKillsWhenTheStopIsOverdue: the agent answered the server's stop
// with SIGTERM alone and left the rest to the site's scheduler, so a
// workload that ignored SIGTERM at a site whose scheduler the server could
// not reach ran on for as long as the server kept answering "stop", and
// after it had ended the attempt. Now a stop leaves the workload its time
// (a drain to checkpoint in), and the agent has the reaper kill it and all
// it started once the server says that time has passed (kill), or that
// the attempt has ended (410).
func TestAgentKillsWhenTheStopIsOverdue(t *testing.T) {
	for _, how := range []string{"kill", "gone"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			// The workload notes the time of each SIGTERM it is sent.
			srv, _, _, done := startAgent(t, "trap '' TERM\n"+escapeScript(dir, false, "trap 'date +%s%N >> terms' TERM\necho $$$$ > main\nwhile :; do sleep 0.05; done"), 0, nil)
			pids := escapees(t, dir)
			started(t, filepath.Join(dir, "main"))
			raw, _ := os.ReadFile(filepath.Join(dir, "main"))
			main, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
			pids = append(pids, main)
			srv.stop.Store(true)
			// Asked to stop, the workload has its time. The loop that
			// would kill it passes each stop the server answers on as a
			// SIGTERM: once the workload has noted them over the agent's
			// grace (1 s) and two of its checkpoint polls, that loop has
			// gone on past them with the workload alive, and nothing is
			// killed.
			span := fenceGrace(0) + 2*checkpointPoll
			for deadline := time.Now().Add(30 * time.Second); termSpan(filepath.Join(dir, "terms")) < span; time.Sleep(10 * time.Millisecond) {
				if !running(main) {
					t.Fatalf("the workload ended %s into the SIGTERMs it noted, while the server only asked it to stop", termSpan(filepath.Join(dir, "terms")))
				}
				if time.Now().After(deadline) {
					t.Fatalf("the workload noted the agent's SIGTERMs over %s in 30 s, not %s", termSpan(filepath.Join(dir, "terms")), span)
				}
			}
			for _, pid := range pids {
				if !running(pid) {
					t.Fatalf("pid %d of the workload ended while the server only asked it to stop", pid)
				}
			}
			select {
			case r := <-done:
				t.Fatalf("the agent returned %v while the server only asked the workload to stop", r)
			default:
			}
			if how == "kill" {
				srv.kill.Store(true)
			} else {
				srv.gone.Store(true)
			}
			select {
			case r := <-done:
				if code := r[0].(int); code != 128+int(syscall.SIGKILL) {
					t.Errorf("Run = %v; want %d, the workload killed", r, 128+int(syscall.SIGKILL))
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the workload, ignoring SIGTERM, runs on 20 s after the server said %s", how)
			}
			assertGone(t, "a workload whose time to stop had passed", pids, 5*time.Second)
		})
	}
}

// termSpan is the time between the first and the last time noted in
// path, one a line in Unix nanoseconds; a line cut short (its date killed
// by a SIGTERM too) is skipped.
func termSpan(path string) time.Duration {
	raw, _ := os.ReadFile(path)
	var first, last int64
	for _, line := range strings.Split(string(raw), "\n") {
		ns, err := strconv.ParseInt(line, 10, 64)
		if err != nil || len(line) < 19 {
			continue
		}
		if first == 0 {
			first = ns
		}
		last = ns
	}
	return time.Duration(last - first)
}

// TestAgentKillsAtOnceWhenTheAttemptHasEnded: a server that answers that
// the attempt has ended (410) has moved the run on to another attempt,
// which may run already on the same data, or ended it; it asked for the
// stop and gave the drain its time before. The agent still sent SIGTERM
// alone and left a workload that ignored it running for a grace (half the
// lease, up to 30 s), sealing its new checkpoints into the site's store
// for a run that took none of them. Now it kills the workload and all it
// started at once, and seals nothing more.
func TestAgentKillsAtOnceWhenTheAttemptHasEnded(t *testing.T) {
	dir := t.TempDir()
	// After the end, the workload writes a checkpoint.
	rest := `echo $$$$ > main
while :; do
  if [ -e go ] && [ ! -e "$MERIDIAN_CHECKPOINT_DIR/step-7" ]; then
    head -c 1000 /dev/urandom > "$MERIDIAN_CHECKPOINT_DIR/.tmp" && mv "$MERIDIAN_CHECKPOINT_DIR/.tmp" "$MERIDIAN_CHECKPOINT_DIR/step-7"
  fi
  sleep 0.05
done`
	// A lease of ten minutes: the grace after a refusal is 30 s.
	srv, storeDir, count, done := startAgent(t, "trap '' TERM\n"+escapeScript(dir, false, rest), 10*time.Minute, nil)
	pids := escapees(t, dir)
	started(t, filepath.Join(dir, "main"))
	raw, _ := os.ReadFile(filepath.Join(dir, "main"))
	main, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	pids = append(pids, main)
	srv.gone.Store(true)
	for deadline := time.Now().Add(10 * time.Second); srv.goneAnswers.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the agent has not asked the server anything in 10 s")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		code, _ := r[0].(int)
		err, _ := r[1].(error)
		if code != 128+int(syscall.SIGKILL) || err == nil || !strings.Contains(err.Error(), "attempt has ended") {
			t.Errorf("Run = %d, %v; want %d, the workload killed because the attempt has ended", code, err, 128+int(syscall.SIGKILL))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the workload, ignoring SIGTERM, runs on 15 s after the server answered that its attempt has ended")
	}
	assertGone(t, "the workload of an attempt that has ended", pids, 5*time.Second)
	if packs, _ := os.ReadFile(count); strings.Contains(string(packs), "step-7") {
		t.Errorf("the pack helper ran for %q after the attempt had ended", packs)
	}
	st, err := dataset.OpenStore(context.Background(), "file://"+storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.ReadObject(context.Background(), st.Sub("t1/checkpoints/"), dataset.ManifestKey("ckpt-run-1-7"), 1<<20); err == nil {
		t.Error("a checkpoint written after the attempt had ended was sealed into the site's store")
	}
}
