package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestSubmitRefusesNonCanonicalJobID: sbatch that printed a job id with a
// leading zero or 0 ("007", "0") had it recorded and returned: slurmctld
// writes no id so, and Status of it failed later, every poll. Submit now
// refuses it, naming the id.
func TestSubmitRefusesNonCanonicalJobID(t *testing.T) {
	for _, out := range []string{"007", "0", "00", "0042;cluster"} {
		state := t.TempDir()
		b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho '" + out + "'\n"})
		id, err := b.Submit(context.Background(), backend.Spec{RunID: "lead", Attempt: 1, Command: []string{"true"}})
		bad, _, _ := strings.Cut(out, ";")
		if err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("sbatch printed %q: Submit = %q, %v; want an error naming %q", out, id, err, bad)
		}
	}
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho '100;cluster'\n"})
	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "lead", Attempt: 1, Command: []string{"true"}}); err != nil || id != "100" {
		t.Errorf("sbatch printed 100: Submit = %q, %v; want job 100", id, err)
	}
}

// TestSubmitWorkDirSyncedIntoItsParent: Submit made the attempt's work
// directory with os.MkdirAll, its entry unsynced: a power loss after
// sbatch could take it, and the job then failed to start in it (--chdir).
// It is now synced into its parent.
func TestSubmitWorkDirSyncedIntoItsParent(t *testing.T) {
	synced := syncedDirs(t)
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho 555\n"})
	root := t.TempDir()
	wd := filepath.Join(root, "w", "attempt")
	synced()
	spec := backend.Spec{RunID: "wd", Attempt: 1, Command: []string{"true"}, WorkDir: wd}
	if id, err := b.Submit(context.Background(), spec); err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want job 555", id, err)
	}
	if fi, err := os.Stat(wd); err != nil || !fi.IsDir() {
		t.Fatalf("work dir %s: %v", wd, err)
	}
	got := synced()
	for _, d := range []string{root, filepath.Join(root, "w")} {
		if !slices.Contains(got, d) {
			t.Errorf("%s, where a directory was made, not synced (synced %q)", d, got)
		}
	}
}
