package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// When controllerEnv names a state dir, the test binary acts as a controller
// that submits one job, prints its handle and waits to be killed.
const controllerEnv = "MERIDIAN_LOCAL_TEST_CONTROLLER"

// jobScript waits for a file named release in its work dir, then exits 7.
const jobScript = `echo started; while [ ! -e release ]; do sleep 0.02; done; echo finished; exit 7`

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "__linger" {
		os.Exit(linger(os.Args[2]))
	}
	if dir := os.Getenv(controllerEnv); dir != "" {
		b, err := local.New(catalog.BackendSpec{}, dir)
		if err != nil {
			panic(err)
		}
		h, err := b.Submit(context.Background(), backend.Spec{RunID: "survivor", Attempt: 1,
			Command: []string{"/bin/sh", "-c", jobScript}})
		if err != nil {
			panic(err)
		}
		os.Stdout.WriteString(h + "\n")
		select {} // until killed
	}
	os.Exit(m.Run())
}

func newLocal(t *testing.T, dir string) *local.Local {
	t.Helper()
	b, err := local.New(catalog.BackendSpec{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJobSurvivesControllerKill: a controller submits a job and is killed
// with SIGKILL; the job keeps running, and a new controller on the same
// state sees it running, then reads its exit code and output.
func TestJobSurvivesControllerKill(t *testing.T) {
	state := t.TempDir()
	ctl := exec.Command(os.Args[0], "-test.run=^$")
	ctl.Env = append(os.Environ(), controllerEnv+"="+state)
	out, err := ctl.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		ctl.Process.Kill()
		t.Fatalf("controller printed no handle: %v", err)
	}
	handle := strings.TrimSpace(line)
	if err := ctl.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctl.Wait()

	b := newLocal(t, state)
	got, ok, err := b.Find(context.Background(), "survivor", 1)
	if err != nil || !ok || got != handle {
		t.Fatalf("Find after the controller died = %q, %v, %v; want %q", got, ok, err, handle)
	}
	st, err := b.Status(context.Background(), handle)
	if err != nil || st.State != backend.Running {
		t.Fatalf("status after the controller died = %+v, %v; want running", st, err)
	}
	spec := backend.Spec{RunID: "survivor", Attempt: 1}
	if err := os.WriteFile(filepath.Join(b.WorkDir(spec), "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st = backendtest.WaitFinal(t, b, handle)
	if st.State != backend.Failed || st.ExitCode != 7 {
		t.Fatalf("final status = %+v, want failed with exit code 7", st)
	}
	rc, err := b.Logs(context.Background(), handle)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if strings.Join(lines, ",") != "started,finished" {
		t.Fatalf("logs = %q, want started then finished", lines)
	}
}

// TestKilledJobIsLost: a job whose process group is killed from outside
// (no exit code recorded) is reported Lost, not running or succeeded.
func TestKilledJobIsLost(t *testing.T) {
	b := newLocal(t, t.TempDir())
	spec := backend.Spec{RunID: "victim", Attempt: 1, Command: []string{"/bin/sh", "-c", jobScript}}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	pid := readPid(t, b, h)
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := backendtest.WaitFinal(t, b, h)
	if st.State != backend.Lost || !strings.Contains(st.Reason, "without an exit status") {
		t.Fatalf("status = %+v, want lost without an exit status", st)
	}
}

// readPid waits for the wrapper's pid file of handle.
func readPid(t *testing.T, b *local.Local, handle string) int {
	t.Helper()
	path := filepath.Join(b.StateDir(), "jobs", handle, "pid")
	deadline := time.Now().Add(backendtest.Timeout)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		if err == nil {
			var pid int
			for _, c := range strings.TrimSpace(string(data)) {
				pid = pid*10 + int(c-'0')
			}
			return pid
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	t.Fatalf("no pid file for %s", handle)
	return 0
}

// TestInterruptedSubmit: a controller killed after recording a job but
// before starting its process leaves a job that Find does not report, and
// that the next Submit starts exactly once.
func TestInterruptedSubmit(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	spec := backend.Spec{RunID: "interrupted", Attempt: 1, Command: []string{"/bin/sh", "-c", "echo run >>runs.txt"}, WorkDir: t.TempDir()}
	// What Submit writes before it launches the process.
	dir := filepath.Join(state, "jobs", spec.Key())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "job.json"), []byte(`{"runID":"interrupted","attempt":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.Find(context.Background(), spec.RunID, spec.Attempt); err != nil || ok {
		t.Fatalf("Find of a job never started = ok %v, err %v; want not found", ok, err)
	}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	if _, err := b.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(spec.WorkDir, "runs.txt"))
	if err != nil || string(data) != "run\n" {
		t.Fatalf("runs.txt = %q, %v; want exactly one run", data, err)
	}
}

// TestWrapperThatCannotRecordItsPid: a wrapper that could not write its
// pid (a full or failing disk; here a directory stands where it writes it
// first) started the job's command all the same, which nothing could then
// stop, as Cancel signals the group the pid names; and once the wrapper
// ended without a pid or an exit code, the job read as starting for ever,
// as it does after a host restart that lost the pid file. Now such a
// wrapper starts nothing, and a job with no pid, no exit code and neither
// a Submit nor a wrapper holding it is lost.
func TestWrapperThatCannotRecordItsPid(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	wd := t.TempDir()
	spec := backend.Spec{RunID: "nopid", Attempt: 1, Command: []string{"/bin/sh", "-c", "echo $$ > ran; exec sleep 1000"}, WorkDir: wd}
	if err := os.MkdirAll(filepath.Join(state, "jobs", spec.Key(), ".pid.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if raw, err := os.ReadFile(filepath.Join(wd, "ran")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(raw), &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	st := backendtest.WaitFinal(t, b, h)
	if st.State != backend.Lost {
		t.Errorf("status %+v; want lost", st)
	}
	if _, err := os.Stat(filepath.Join(wd, "ran")); err == nil {
		t.Error("the wrapper started the job's command without recording its pid")
	}
}

// TestGroupKilledAtOnceSeenBetweenItsEndsIsLost: a job's whole group
// killed at once was read failed, its exit code unknown, where a Status
// came in the moment between its wrapper's end and its command's (the
// command still held its lock): the sighting of a command running on
// without its wrapper was kept, and the job read as its wrapper killed
// alone. Here the command ends 50 ms after its wrapper; the job is lost.
func TestGroupKilledAtOnceSeenBetweenItsEndsIsLost(t *testing.T) {
	b := newLocal(t, t.TempDir())
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "between", Attempt: 1, Command: []string{"/bin/sh", "-c", jobScript}})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	pid := readPid(t, b, h)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The wrapper gone (reaped), its command holding the lock.
	for deadline := time.Now().Add(backendtest.Timeout); syscall.Kill(pid, 0) == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the wrapper %d never ended", pid)
		}
	}
	time.AfterFunc(50*time.Millisecond, func() { syscall.Kill(-pid, syscall.SIGKILL) })
	st := backendtest.WaitFinal(t, b, h)
	if st.State != backend.Lost || !strings.Contains(st.Reason, "without an exit status") {
		t.Fatalf("status = %+v, want lost without an exit status", st)
	}
}
