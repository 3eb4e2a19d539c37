package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// TestSubmitRefusesADefaultWorkRootSwappedWhileTheJobsDirectoryIsMade:
// in the default work root the job's directory was made and checked
// through a descriptor of the work root, but sbatch was given its path,
// never compared with what was checked: the work root renamed away and
// another put in its place once it was opened (here when the job's
// directory is synced into it) had the job sent to run in a directory
// never checked. Its path is now compared with the directory checked:
// refused, and no job sent.
func TestSubmitRefusesADefaultWorkRootSwappedWhileTheJobsDirectoryIsMade(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	work := filepath.Join(state, "work")
	calls := filepath.Join(dir, "sbatch-calls")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm"}, map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	swapped := false
	atomicfile.SyncHook = func(d string) {
		if d != work || swapped {
			return
		}
		swapped = true
		if err := os.Rename(work, filepath.Join(state, "work-old")); err != nil {
			t.Error(err)
		}
		if err := os.MkdirAll(filepath.Join(work, "r1-1"), 0o777); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
	if !swapped {
		t.Fatal("the work root was not swapped: the job's directory was not synced into it")
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Join(work, "r1-1")) || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Submit = %q, %v; want a refusal naming the job's directory as replaced", id, err)
	}
	if _, cerr := os.Stat(calls); !os.IsNotExist(cerr) {
		t.Errorf("sbatch run (%v); want no job sent", cerr)
	}
}
