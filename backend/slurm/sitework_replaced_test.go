package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestSubmitRefusesAWorkRootReplacedSinceStart: the attempt's work
// directory was checked through the site's work root as opened at start,
// but sbatch (--chdir) and the batch script (cd) were given its path. A
// work root renamed since the start, and a new one put at its path
// holding the job's directory open to all, had Submit check (and make)
// the directory in the old root and send the job to run in the new one,
// at every submit. Submit now refuses, naming the work root, and runs no
// sbatch.
func TestSubmitRefusesAWorkRootReplacedSinceStart(t *testing.T) {
	dir := t.TempDir()
	state, work := filepath.Join(dir, "state"), filepath.Join(dir, "work")
	calls := filepath.Join(dir, "sbatch-calls")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm", WorkDir: work},
		map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
	if err := os.Rename(work, filepath.Join(dir, "work.old")); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(work, "r1-1")
	if err := os.MkdirAll(planted, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(planted, 0o777); err != nil {
		t.Fatal(err)
	}
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
	_, cerr := os.Stat(calls)
	if err == nil || !strings.Contains(err.Error(), "replaced since the server started") || !os.IsNotExist(cerr) {
		t.Errorf("work root replaced: Submit = %q, %v (sbatch run: %v); want a refusal naming the replaced work root, and no sbatch", id, err, cerr == nil)
	}
}
