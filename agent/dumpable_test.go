package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/seal"
)

// peekReport is what the peek workload (peekMain) found.
type peekReport struct {
	Agent   int    `json:"agent"`
	CapEff  uint64 `json:"capEff"`  // capabilities still effective
	Control string `json:"control"` // a dumpable process of the same user's environ
	Environ string `json:"environ"` // the agent's
	Mem     string `json:"mem"`     // the agent's
}

// peekMain is the workload of TestAgentIsNotDumpable, started as
// `<test binary> __peek OUT`: a process of the agent's user, without
// capabilities, as the workload is in sandbox mode none. It tries to
// read its agent's environment and open its memory, and writes what it
// found to OUT.
func peekMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "peek: want OUT")
		return 2
	}
	var rep peekReport
	// The workload's parent is its reaper, whose parent is the agent.
	reaper, _, _ := procStat(os.Getppid())
	rep.Agent = reaper
	if reaper == 0 {
		ppid, _, _ := procStat(os.Getpid())
		rep.Agent, _, _ = procStat(ppid)
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			rep.CapEff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	look := func(path string, read bool) string {
		f, err := os.Open(path)
		if err != nil {
			return "denied: " + err.Error()
		}
		defer f.Close()
		if !read {
			return "opened"
		}
		b := make([]byte, 64<<10)
		n, err := f.Read(b)
		if err != nil {
			return "denied: " + err.Error()
		}
		return "read: " + string(bytes.ReplaceAll(b[:n], []byte{0}, []byte{'\n'}))
	}
	// A control: a dumpable process of the same user, whose environment
	// this thread must be able to read, or the test shows nothing.
	// Until the control has exec'd, its environment is this process's;
	// the look waits for it up to 30 s, which a loaded machine may need,
	// within the agent's 60 s.
	ctl := exec.Command("sleep", "60")
	ctl.Env = []string{"PEEK_CONTROL=1"}
	if err := ctl.Start(); err == nil {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if rep.Control = look("/proc/"+strconv.Itoa(ctl.Process.Pid)+"/environ", true); strings.Contains(rep.Control, "PEEK_CONTROL") {
				break
			}
		}
		ctl.Process.Kill()
		ctl.Wait()
	}
	rep.Environ = look("/proc/"+strconv.Itoa(rep.Agent)+"/environ", true)
	rep.Mem = look("/proc/"+strconv.Itoa(rep.Agent)+"/mem", false)
	b, _ := json.Marshal(rep)
	if err := os.WriteFile(args[0], b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "peek:", err)
		return 2
	}
	return 0
}

// TestAgentIsNotDumpable: the agent holds the attempt's credential in its
// environment and the run's key in its memory, and in sandbox mode none
// the workload runs as its user: the agent was dumpable, so the workload
// read the credential from /proc/AGENT/environ and could open its memory.
// Now the agent, started as the scheduler starts it (a process of its own
// that reads its environment), makes itself undumpable before it reads
// anything, and the workload can do neither, while it still reads the
// environment of a dumpable process of the same user.
func TestAgentIsNotDumpable(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	wd := filepath.Join(dir, "scratch")
	for _, d := range []string{storeDir, wd} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The agent runs as the site's user, without capabilities: root, or
	// CAP_SYS_PTRACE alone, reads any process's /proc whether it is
	// dumpable or not. A test run as root runs it as another user, from a
	// copy of this binary that user may run.
	var cred *syscall.Credential
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		const nobody = 65534
		cred = &syscall.Credential{Uid: nobody, Gid: nobody}
		bin := filepath.Join(dir, "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		exe = filepath.Join(bin, "agent.test")
		if err := os.WriteFile(exe, raw, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{storeDir, wd, outDir} {
			if err := os.Chown(d, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := filepath.Join(outDir, "peek.json")
	srv := &server{t: t, manifest: Manifest{Run: "run-1", Attempt: 1, Site: "here", Tenant: "t1",
		Command: []string{exe, "__peek", out}, Store: "file://" + storeDir, DataPrefix: "t1/data/",
		CheckpointPrefix: "t1/checkpoints/", RunKey: key.String(), CheckpointName: "ckpt-run-1-%d",
		Sandbox: Sandbox{Mode: SandboxNone}, Heartbeat: 50 * time.Millisecond, LogLimit: 1 << 20}}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	const token = "attempt-token-the-workload-must-not-read"
	var log bytes.Buffer
	cmd := exec.Command(exe, "__agent")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), EnvServer+"="+hs.URL, EnvRun+"=run-1", EnvAttempt+"=1", EnvToken+"="+token)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the agent: %v; output:\n%s", err, log.Bytes())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the agent has not ended in 60 s; output:\n%s", log.Bytes())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the workload wrote no report: %v; the agent's output:\n%s", err, log.Bytes())
	}
	var rep peekReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Agent != cmd.Process.Pid {
		t.Fatalf("the workload looked at pid %d, not the agent's (%d)", rep.Agent, cmd.Process.Pid)
	}
	if rep.CapEff != 0 || !strings.Contains(rep.Control, "PEEK_CONTROL=1") {
		t.Fatalf("the workload's look stands for nothing: capabilities still effective %#x, a dumpable process's environment: %q", rep.CapEff, rep.Control)
	}
	if !strings.HasPrefix(rep.Environ, "denied") {
		t.Errorf("the workload read the agent's environment (%d bytes, the credential in it: %v)", len(rep.Environ), strings.Contains(rep.Environ, token))
	}
	if !strings.HasPrefix(rep.Mem, "denied") {
		t.Errorf("the workload opened the agent's memory: %s", rep.Mem)
	}
}
