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

// TestSubmitMakesWorkDirThroughTheSitesWorkRootAsOpened: a site's own
// work root, outside the state directory (backend.workDir), had each
// attempt's work directory made by its path at Submit: a link put in
// place of the work root, or of a directory above it, since the start
// had Submit make the attempt's directory wherever the link led, and one
// in the attempt's directory's own place had the job sent to run where
// it pointed. The directory is now made through the work root as opened
// at start, and one that is a link is refused.
func TestSubmitMakesWorkDirThroughTheSitesWorkRootAsOpened(t *testing.T) {
	for _, at := range []string{"the work root", "a directory above it", "the job's directory", "the job's directory, inside"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			state, site := filepath.Join(dir, "state"), filepath.Join(dir, "scratch", "site")
			work := filepath.Join(site, "work")
			victim := filepath.Join(dir, "victim")
			if err := os.MkdirAll(filepath.Join(victim, "work", "elsewhere"), 0o755); err != nil {
				t.Fatal(err)
			}
			calls := filepath.Join(dir, "sbatch-calls")
			b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm", WorkDir: work},
				map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
			var link, target, moved string
			switch at {
			case "the work root":
				link, target, moved = work, filepath.Join(victim, "work"), filepath.Join(site, "work.old")
			case "a directory above it":
				link, target, moved = site, victim, filepath.Join(dir, "scratch", "site.old")
			case "the job's directory":
				link, target = filepath.Join(work, "r1-1"), filepath.Join(victim, "work", "elsewhere")
			default:
				// A link that stays inside the work root, which os.Root
				// follows: to another attempt's directory.
				if err := os.Mkdir(filepath.Join(work, "other-1"), 0o755); err != nil {
					t.Fatal(err)
				}
				link, target = filepath.Join(work, "r1-1"), filepath.Join(work, "other-1")
			}
			if moved != "" {
				if err := os.Rename(link, moved); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
			if _, serr := os.Lstat(filepath.Join(victim, "work", "r1-1")); !os.IsNotExist(serr) {
				t.Errorf("link in place of %s: Submit made the attempt's directory where it led (%v)", at, serr)
			}
			if moved == "" {
				// The job's own place is a link: refused, and no job sent
				// to run where it leads.
				_, cerr := os.Stat(calls)
				if err == nil || !strings.Contains(err.Error(), "r1-1") || !os.IsNotExist(cerr) {
					t.Errorf("link in place of %s: Submit = %q, %v (sbatch run: %v); want an error naming the attempt's directory, and no sbatch", at, id, err, cerr == nil)
				}
				return
			}
			// The work root's path names another directory now: refused,
			// and no job sent to run there (TestSubmitRefusesAWorkRootReplacedSinceStart).
			if _, cerr := os.Stat(calls); err == nil || !strings.Contains(err.Error(), "replaced since the server started") || !os.IsNotExist(cerr) {
				t.Errorf("link in place of %s: Submit = %q, %v (sbatch run: %v); want a refusal naming the replaced work root, and no sbatch", at, id, err, cerr == nil)
			}
			// Made in the work root as opened at start.
			made := filepath.Join(moved, "r1-1")
			if at == "a directory above it" {
				made = filepath.Join(moved, "work", "r1-1")
			}
			if fi, err := os.Lstat(made); err != nil || !fi.IsDir() {
				t.Errorf("link in place of %s: the attempt's directory not made in the work root as opened (%v)", at, err)
			}
		})
	}
}

// TestSubmitSetsBackAWorkDirOthersMayWrite: an attempt's work directory
// in a site's own work root that was already there, mode 0777 (its job
// made it so on an earlier try), was used as it was, for anyone on a
// shared scratch to put files the job reads. Submit now sets its mode
// back to one only its owner may write, through the directory it opened.
func TestSubmitSetsBackAWorkDirOthersMayWrite(t *testing.T) {
	dir := t.TempDir()
	state, work := filepath.Join(dir, "state"), filepath.Join(dir, "work")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm", WorkDir: work}, map[string]string{"sbatch": "#!/bin/sh\necho 555\n"})
	wd := filepath.Join(work, "r1-1")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wd, 0o777); err != nil {
		t.Fatal(err)
	}
	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}}); err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want job 555", id, err)
	}
	fi, err := os.Lstat(wd)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o755 {
		t.Errorf("work dir mode %#o after Submit; want %#o", got, 0o755)
	}
}

// TestSubmitRefusesAWorkDirOfAnotherUser: an attempt's work directory in
// a site's own work root that another user made first (on a shared
// scratch, for the job to run in, with what they put there) was used as
// it was. Submit now refuses it, naming its owner; no job is sent.
func TestSubmitRefusesAWorkDirOfAnotherUser(t *testing.T) {
	dir := t.TempDir()
	state, work := filepath.Join(dir, "state"), filepath.Join(dir, "work")
	calls := filepath.Join(dir, "sbatch-calls")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm", WorkDir: work},
		map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
	if err := os.Mkdir(filepath.Join(work, "r1-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The directory just made is this process's user's: the server is
	// taken to run as another.
	slurm.SetServerUID(t, os.Geteuid()+1)
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
	_, cerr := os.Stat(calls)
	if err == nil || !strings.Contains(err.Error(), "belongs to user") || !os.IsNotExist(cerr) {
		t.Errorf("work dir of another user: Submit = %q, %v (sbatch run: %v); want a refusal naming its owner, and no sbatch", id, err, cerr == nil)
	}
}
