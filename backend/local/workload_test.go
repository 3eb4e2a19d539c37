package local_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// jobOutput runs command as a job to its end and returns its output.
func jobOutput(t *testing.T, b backend.Backend, spec backend.Spec) string {
	t.Helper()
	ctx := context.Background()
	h, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.WaitFinal(t, b, h)
	rc, err := b.Logs(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestJobNamesItsStateDirToTheAgent: the job (the agent) is told the
// backend's state directory, which the agent keeps its workload from
// reading (in the landlock sandbox the workload runs as this user, and
// read the job records, other attempts' credentials in them, wherever a
// path it may read held them); the spec's environment cannot change it.
func TestJobNamesItsStateDirToTheAgent(t *testing.T) {
	b := newLocal(t, t.TempDir())
	out := jobOutput(t, b, backend.Spec{RunID: "private-dir", Attempt: 1,
		Command: []string{"/bin/sh", "-c", `printf '%s\n' "$MERIDIAN_PRIVATE_DIR"`},
		Env:     map[string]string{"MERIDIAN_PRIVATE_DIR": "/elsewhere"}})
	if got := strings.TrimSpace(out); got != b.StateDir() {
		t.Errorf("the job's MERIDIAN_PRIVATE_DIR is %q; want the state directory %q", got, b.StateDir())
	}
}

// TestWorkDirIsTheJobsAlone: the job's working directory (its workload's
// home) is its owner's alone, so that what the workload writes there is
// not readable by every user of the machine; the directories above it
// stay open to pass through (a workload run as the tenant's own user).
func TestWorkDirIsTheJobsAlone(t *testing.T) {
	state := t.TempDir()
	b := newLocal(t, state)
	for _, wd := range []string{"", filepath.Join("shared", "deep")} {
		spec := backend.Spec{RunID: "home", Attempt: 1, WorkDir: wd,
			Command: []string{"/bin/sh", "-c", "umask 022; echo secret > weights.bin"}}
		if wd != "" {
			spec.RunID = "home-deep"
		}
		jobOutput(t, b, spec)
		dir := b.WorkDir(spec)
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("work dir %s: mode %04o; want 0700", dir, perm)
		}
		if wd != "" {
			fi, err := os.Stat(filepath.Dir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&0o011 != 0o011 {
				t.Errorf("%s: mode %04o; want others to pass through", filepath.Dir(dir), perm)
			}
		}
	}
}

// TestJobBoundsItsOutputLog: the job's output.log lies in the state
// directory, on the disk of the server's database and audit log, and the
// agent wrote all of a workload's output there: one printing without end
// filled that disk. The job now tells the agent how much of it to write
// (the default, or the backend's setting; the spec's environment cannot
// raise it).
func TestJobBoundsItsOutputLog(t *testing.T) {
	b := newLocal(t, t.TempDir())
	for i, limit := range []int64{0, 1 << 20} {
		want := "268435456"
		if limit > 0 {
			b.OutputLimit, want = limit, "1048576"
		}
		out := jobOutput(t, b, backend.Spec{RunID: "output-limit", Attempt: i + 1,
			Command: []string{"/bin/sh", "-c", `printf '%s\n' "$MERIDIAN_SITE_LOG_LIMIT"`},
			Env:     map[string]string{"MERIDIAN_SITE_LOG_LIMIT": "999999999999"}})
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("the job's MERIDIAN_SITE_LOG_LIMIT is %q; want %s", got, want)
		}
	}
}
