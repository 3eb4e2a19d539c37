package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
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

// TestSubmitKeepsSetgidOfTheDefaultWorkDir: the default per-attempt
// directory found open to others' writes had its mode set to
// Perm() &^ 022, which dropped its setgid and sticky bits with the
// write. Only group and other write are taken now: 2777 becomes 2755.
func TestSubmitKeepsSetgidOfTheDefaultWorkDir(t *testing.T) {
	dir := t.TempDir()
	state, work := filepath.Join(dir, "state"), filepath.Join(dir, "work")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm", WorkDir: work}, map[string]string{"sbatch": "#!/bin/sh\necho 555\n"})
	wd := filepath.Join(work, "r1-1")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wd, os.ModeSetgid|0o777); err != nil {
		t.Fatal(err)
	}
	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}}); err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want job 555", id, err)
	}
	fi, err := os.Lstat(wd)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSticky), os.ModeSetgid|0o755; got != want {
		t.Errorf("default work dir of mode 2777: %v after Submit; want %v", got, want)
	}
}

// TestSubmitTakesANamedWorkDirAsItIs: a work directory the job named
// (spec.WorkDir) in the site's work root, a group-shared project
// directory another user made (root, a project account), mode 2775, was
// refused for its owner, or had its setgid bit and group write taken
// away. It is the site's: Submit now uses it and leaves its mode alone.
func TestSubmitTakesANamedWorkDirAsItIs(t *testing.T) {
	dir := t.TempDir()
	state, work := filepath.Join(dir, "state"), filepath.Join(dir, "work")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm", WorkDir: work}, map[string]string{"sbatch": "#!/bin/sh\necho 555\n"})
	wd := filepath.Join(work, "project")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wd, os.ModeSetgid|0o775); err != nil {
		t.Fatal(err)
	}
	// The directory just made is this process's user's: the server is
	// taken to run as another.
	slurm.SetServerUID(t, os.Geteuid()+1)
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: "project", Command: []string{"true"}})
	if err != nil || id != "555" {
		t.Fatalf("named work dir of another user, mode 2775: Submit = %q, %v; want job 555", id, err)
	}
	fi, err := os.Lstat(wd)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSticky), os.ModeSetgid|0o775; got != want {
		t.Errorf("named work dir of mode 2775: %v after Submit; want it untouched (%v)", got, want)
	}
}
