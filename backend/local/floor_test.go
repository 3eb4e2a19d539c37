package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestJobGivesTheAgentTheServersFloors: the agent keeps a floor free on
// its scratch's filesystem, which the site's variables only raise (its
// environment may pass through a tenant's hands): on a small disk every
// workload was refused, and the operator of a local site could neither
// lower nor raise it. The server's settings now reach the job's agent on
// its command line (after the job's command: the agent's), which the
// spec's environment cannot change; unset, the agent keeps its own.
func TestJobGivesTheAgentTheServersFloors(t *testing.T) {
	// The job's command is a shell printing its arguments: the first one
	// put after "-c SCRIPT" is its $0.
	cmd := []string{"/bin/sh", "-c", `printf '%s\n' "$0" "$@"`}
	t.Setenv(local.EnvScratchFloor, "1048576")
	t.Setenv(local.EnvScratchInodeFloor, "100")
	b, err := local.New(catalog.BackendSpec{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := jobOutput(t, b, backend.Spec{RunID: "floors", Attempt: 1, Command: cmd,
		Env: map[string]string{"MERIDIAN_SCRATCH_FLOOR": "1", "MERIDIAN_SCRATCH_INODE_FLOOR": "1"}})
	if got, want := strings.TrimSpace(out), "--scratch-floor=1048576\n--scratch-inode-floor=100"; got != want {
		t.Errorf("the job's agent was given %q; want %q", got, want)
	}
	b.ScratchFloor = 0
	out = jobOutput(t, b, backend.Spec{RunID: "floors", Attempt: 2, Command: cmd})
	if got, want := strings.TrimSpace(out), "--scratch-inode-floor=100"; got != want {
		t.Errorf("with ScratchFloor 0 the job's agent was given %q; want %q", got, want)
	}
	os.Unsetenv(local.EnvScratchFloor)
	os.Unsetenv(local.EnvScratchInodeFloor)
	b, err = local.New(catalog.BackendSpec{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if out := jobOutput(t, b, backend.Spec{RunID: "floors", Attempt: 1, Command: cmd}); strings.Contains(out, "--scratch") {
		t.Errorf("with no floors set the job's agent was given %q; want the agent's own floors", out)
	}
}

// TestScratchFloorsRefused: a floor that is not a whole number above 0
// is refused, naming the setting; a negative one set on the backend
// fails the Submit with the job unstarted.
func TestScratchFloorsRefused(t *testing.T) {
	for _, name := range []string{local.EnvScratchFloor, local.EnvScratchInodeFloor} {
		for _, bad := range []string{"", "0", "-1", "1GiB", "lots"} {
			t.Setenv(name, bad)
			_, err := local.New(catalog.BackendSpec{}, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: error %v; want one naming the setting", name, bad, err)
			}
		}
		os.Unsetenv(name)
	}
	b := newLocal(t, t.TempDir())
	b.ScratchInodeFloor = -1
	ran := filepath.Join(t.TempDir(), "ran")
	_, err := b.Submit(context.Background(), backend.Spec{RunID: "bad-floor", Attempt: 1,
		Command: []string{"/bin/sh", "-c", "touch " + ran}})
	if err == nil || !strings.Contains(err.Error(), "ScratchInodeFloor") {
		t.Errorf("submit with ScratchInodeFloor -1: %v; want an error naming it", err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the job ran though its floor was refused")
	}
}
