package local_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestCleanRemovesTheWorkDirItLaunchedNotTheRecords: Clean removed the
// working directory the job's record (job.json, in the job's directory)
// named, anything inside the work root: a workload that could write its
// job's directory had it name another run's, and Clean of its own job
// removed that run's working directory. The server now keeps the working
// directory it launched the job in outside the job's directory, and
// Clean removes that one.
func TestCleanRemovesTheWorkDirItLaunchedNotTheRecords(t *testing.T) {
	top := t.TempDir()
	work := filepath.Join(top, "work")
	b, err := local.New(catalog.BackendSpec{Type: "local", WorkDir: work}, filepath.Join(top, "state"))
	if err != nil {
		t.Fatal(err)
	}
	b.TreeWait = 300 * time.Millisecond
	ctx := context.Background()
	var hs []string
	for _, run := range []string{"a", "b"} {
		h, err := b.Submit(ctx, backend.Spec{RunID: run, Attempt: 1, Command: []string{"true"}, WorkDir: run})
		if err != nil {
			t.Fatal(err)
		}
		backendtest.WaitFinal(t, b, h)
		hs = append(hs, h)
	}
	other := filepath.Join(work, "b", "checkpoint")
	if err := os.WriteFile(other, []byte("another run's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recPath := filepath.Join(b.StateDir(), "jobs", hs[0], "job.json")
	data, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	rec["workDir"] = filepath.Join(work, "b")
	if data, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(ctx, hs[0]); err != nil {
		t.Fatal(err)
	}
	checkGone(t, []string{filepath.Join(work, "a")}, []string{other})
}

// TestCancelOfALostJobLeavesTheSessionItsPidFileNames: once a job's
// wrapper was gone (the job lost), its pid file's word was all that named
// its session: a workload that could write its job's directory had it
// name another session, whose members begun before the wrapper was last
// known alive a Cancel of the job signalled, and Clean waited for and
// then kept the working directory. The server now keeps the wrapper's pid
// it launched outside the job's directory: the other session runs on, and
// Clean waits for nothing of it.
func TestCancelOfALostJobLeavesTheSessionItsPidFileNames(t *testing.T) {
	ctx := context.Background()
	b, _, h, pidPath, _ := submitLost(t)
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	// Its time within the 10 s after the launch that the pid file's time
	// is bounded by: the other session's leader begun before it.
	namePid(t, pidPath, other.Process.Pid, time.Now().Add(5*time.Second))

	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(ctx, h); err != nil {
		t.Errorf("Clean: %v, want the working directory removed", err)
	}
	if !running(other.Process.Pid) {
		t.Fatalf("Cancel of a lost job whose pid file names another session killed that session's leader (pid %d)", other.Process.Pid)
	}
}

// dropLaunchRecord removes the launch record of the job h, as a job
// launched by a server that kept none has none: its own files then name
// its working directory and its wrapper's pid.
func dropLaunchRecord(t *testing.T, b *local.Local, h string) {
	t.Helper()
	if err := os.Remove(filepath.Join(b.StateDir(), "launches", h)); err != nil {
		t.Fatal(err)
	}
}
