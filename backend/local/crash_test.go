package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// exitTempJob makes the directory of a job whose wrapper wrote its pid and
// data to .exitcode.tmp, and no exitcode: killed before its rename, or a
// power loss that took the rename. It returns the temp's path.
func exitTempJob(t *testing.T, state, key, data string) string {
	t.Helper()
	_, temp := killedWrapperJob(t, state, key)
	if err := os.WriteFile(temp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return temp
}

// TestCompleteExitTempIsTheExitCode: a power loss just after a job ended
// kept its pid and a complete .exitcode.tmp, but not the rename to
// exitcode. The job read as lost (killed or host restarted), and the temp,
// the only copy of its exit code, was removed as a killed wrapper's. A
// complete one (a number and a newline) is now the job's exit code, put
// in place at a start or at a Status with the run lock free; a torn one
// ("1", which may be the start of "137\n") is still removed and the job
// read as lost.
func TestCompleteExitTempIsTheExitCode(t *testing.T) {
	state := t.TempDir()
	atStart := exitTempJob(t, state, "r-1", "0\n")
	tornAtStart := exitTempJob(t, state, "r-2", "1")
	b, err := local.New(catalog.BackendSpec{Type: "local"}, state)
	if err != nil {
		t.Fatal(err)
	}
	atStatus := exitTempJob(t, state, "r-3", "3\n")
	torn := exitTempJob(t, state, "r-4", "1")
	want := map[string]backend.State{"r-1": backend.Succeeded, "r-2": backend.Lost, "r-3": backend.Failed, "r-4": backend.Lost}
	for _, h := range []string{"r-1", "r-2", "r-3", "r-4"} {
		st, err := b.Status(context.Background(), h)
		if err != nil || st.State != want[h] {
			t.Errorf("%s: %+v, %v; want %s", h, st, err, want[h])
		}
		if h == "r-3" && st.ExitCode != 3 {
			t.Errorf("%s: exit code %d, want 3", h, st.ExitCode)
		}
	}
	checkGone(t, []string{atStart, tornAtStart, atStatus, torn},
		[]string{filepath.Join(state, "jobs", "r-1", "exitcode"), filepath.Join(state, "jobs", "r-3", "exitcode")})
	if st, err := b.Status(context.Background(), "r-1"); err != nil || st.State != backend.Succeeded || st.Ended.IsZero() {
		t.Errorf("r-1 looked at again: %+v, %v; want succeeded, with an end", st, err)
	}
}

// TestWrapperSyncsTheJobDirectoryAfterEachRename: the wrapper renamed its
// pid into place unsynced, and its exit code without syncing the job's
// directory after: a power loss could take either rename. It now has
// sync(1) sync each file before its rename and the directory after it
// (a sync on PATH that notes what it is given, then syncs it).
func TestWrapperSyncsTheJobDirectoryAfterEachRename(t *testing.T) {
	log := filepath.Join(t.TempDir(), "synced")
	fakeSync(t, "printf '%s\\n' \"$@\" >>"+log)
	state := t.TempDir()
	b, err := local.New(catalog.BackendSpec{Type: "local"}, state)
	if err != nil {
		t.Fatal(err)
	}
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "synced", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("%+v, want succeeded", st)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(state, "jobs", h)
	want := []string{filepath.Join(dir, ".pid.tmp"), dir, filepath.Join(dir, ".exitcode.tmp"),
		filepath.Join(state, "launches", h+".end.tmp"), dir}
	if got := strings.Fields(string(data)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("synced %q, want %q", got, want)
	}
}

// fakeSync puts a sync(1) first on PATH, which the job's wrapper
// inherits, that runs the shell commands pre and then the real sync.
func fakeSync(t *testing.T, pre string) {
	t.Helper()
	real, err := exec.LookPath("sync")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	script := "#!/bin/sh\n" + pre + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "sync"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestCancelWhileThePidIsSyncedIsCancelled: the commands the wrapper runs
// to record its pid got its SIGTERM at their default (a trapped signal is
// set back in what a shell runs): a Cancel that came while sync ran
// ended it, the pid not made durable, and the wrapper ended recording no
// exit code: the job had no end, and an exit code file a workload wrote
// under it stood. They now ignore it; the wrapper sees the job's
// cancelled mark once its pid is recorded and records its end.
// (A sync that takes a second over the job's directory holds it there.)
func TestCancelWhileThePidIsSyncedIsCancelled(t *testing.T) {
	state := t.TempDir()
	fakeSync(t, `case "$1" in */jobs/*/.*) ;; */jobs/*) sleep 1 ;; esac`)
	b, err := local.New(catalog.BackendSpec{Type: "local"}, state)
	if err != nil {
		t.Fatal(err)
	}
	b.CancelGrace = 5 * time.Second
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "syncing", Attempt: 1, Command: []string{"sleep", "60"}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(state, "jobs", h, "pid")
	for deadline := time.Now().Add(backendtest.Timeout); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(pid); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no pid file")
		}
	}
	if err := b.Cancel(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled || st.Ended.IsZero() {
		out, _ := os.ReadFile(filepath.Join(state, "jobs", h, "output.log"))
		t.Fatalf("a job cancelled while its pid was synced: %+v (output %q), want cancelled with an end", st, out)
	}
}
