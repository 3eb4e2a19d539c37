package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestSubmitRefusesALinkOnANamedWorkDirsWay: a job naming workDir a/b/c
// below the work root had a, a/b and c made through os.Root, which
// follows a link that stays below its root: a link a workload put at a
// (or a/b), relative, to another attempt's directory had the rest made
// there and the job sent to run in it. One leading out was refused with
// os.Root's "path escapes from parent", naming neither the setting nor
// the link. Each directory on the way is now opened from the one before
// it without following a link: Submit refuses, naming workDir and the
// component, makes nothing where the link leads and sends no job.
func TestSubmitRefusesALinkOnANamedWorkDirsWay(t *testing.T) {
	for _, root := range []string{"the site's own work root", "the default work root"} {
		for _, c := range []struct{ at, to string }{
			{"a", "outside"},
			{"a", "other-1"},
			{"a/b", "other-1"},
		} {
			t.Run(root+", "+c.at+" to "+c.to, func(t *testing.T) {
				dir := t.TempDir()
				state := filepath.Join(dir, "state")
				site := catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(dir, "work")}
				work := site.WorkDir
				if root == "the default work root" {
					site.WorkDir, work = "", filepath.Join(state, "work")
				}
				calls := filepath.Join(dir, "sbatch-calls")
				b := fakeSlurmSite(t, state, site, map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
				// Where the link leads: a directory outside the work root
				// (by its absolute path), or another attempt's directory
				// in it (by a relative one, which stays inside).
				target := filepath.Join(dir, "outside")
				if c.to == "other-1" {
					target = filepath.Join(work, "other-1")
				}
				if err := os.MkdirAll(target, 0o755); err != nil {
					t.Fatal(err)
				}
				link := filepath.Join(work, c.at)
				if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
					t.Fatal(err)
				}
				to := target
				if c.to == "other-1" {
					rel, err := filepath.Rel(filepath.Dir(link), target)
					if err != nil {
						t.Fatal(err)
					}
					to = rel
				}
				if err := os.Symlink(to, link); err != nil {
					t.Fatal(err)
				}
				id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: "a/b/c", Command: []string{"true"}})
				if err == nil || !strings.Contains(err.Error(), "workDir") || !strings.Contains(err.Error(), " "+c.at+", ") || !strings.Contains(err.Error(), "symbolic link") {
					t.Errorf("link at %s: Submit = %q, %v; want a refusal naming workDir and %s as a link", c.at, id, err, c.at)
				}
				entries, rerr := os.ReadDir(target)
				if rerr != nil || len(entries) != 0 {
					t.Errorf("link at %s: Submit made %v where it leads (%v); want nothing", c.at, entries, rerr)
				}
				if _, cerr := os.Stat(calls); !os.IsNotExist(cerr) {
					t.Errorf("link at %s: sbatch run (%v); want no job sent", c.at, cerr)
				}
			})
		}
	}
}

// TestSubmitMakesANamedWorkDirsWay: with no link on the way, a job
// naming workDir a/b/c below the work root has a, a/b and a/b/c made,
// each synced into its parent, and is sent to run there.
func TestSubmitMakesANamedWorkDirsWay(t *testing.T) {
	for _, root := range []string{"the site's own work root", "the default work root"} {
		t.Run(root, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			site := catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(dir, "work")}
			work := site.WorkDir
			if root == "the default work root" {
				site.WorkDir, work = "", filepath.Join(state, "work")
			}
			b := fakeSlurmSite(t, state, site, map[string]string{"sbatch": "#!/bin/sh\necho 555\n"})
			synced := syncedDirs(t)
			if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: "a/b/c", Command: []string{"true"}}); err != nil || id != "555" {
				t.Fatalf("Submit = %q, %v; want job 555", id, err)
			}
			if fi, err := os.Lstat(filepath.Join(work, "a", "b", "c")); err != nil || !fi.IsDir() {
				t.Fatalf("work dir a/b/c not made: %v", err)
			}
			got := synced()
			for _, d := range []string{work, filepath.Join(work, "a"), filepath.Join(work, "a", "b")} {
				if !slices.Contains(got, d) {
					t.Errorf("%s, where a directory was made, not synced (synced %q)", d, got)
				}
			}
		})
	}
}

// TestSubmitRefusesALinkAtTheJobsDirectoryInTheDefaultWorkRoot: in the
// default work root (below the state directory) the attempt's own
// directory was made through the state directory's os.Root, which
// follows a link that stays inside: a link a workload put in its place
// (to another attempt's directory) had the job sent to run there. It is
// now opened without following a link, as in a site's own work root:
// refused, naming it, and no job sent.
func TestSubmitRefusesALinkAtTheJobsDirectoryInTheDefaultWorkRoot(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	work := filepath.Join(state, "work")
	calls := filepath.Join(dir, "sbatch-calls")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm"}, map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
	other := filepath.Join(work, "other-1")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("other-1", filepath.Join(work, "r1-1")); err != nil {
		t.Fatal(err)
	}
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
	_, cerr := os.Stat(calls)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(work, "r1-1")) || !strings.Contains(err.Error(), "symbolic link") || !os.IsNotExist(cerr) {
		t.Errorf("link in place of the job's directory: Submit = %q, %v (sbatch run: %v); want a refusal naming it, and no sbatch", id, err, cerr == nil)
	}
}

// TestSubmitRefusesAWorkDirOfAnotherUserInTheDefaultWorkRoot: the rules
// of the default per-attempt directory (the server's user's) held in a
// site's own work root only; in the default one, below the state
// directory, a directory another user had made in its place was used.
// It is now refused there too, naming its owner, and no job sent.
func TestSubmitRefusesAWorkDirOfAnotherUserInTheDefaultWorkRoot(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	calls := filepath.Join(dir, "sbatch-calls")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm"}, map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
	if err := os.Mkdir(filepath.Join(state, "work", "r1-1"), 0o755); err != nil {
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

// TestSubmitWalksANamedWorkDirSpelledThroughAnotherPath: a job naming
// its workDir by an absolute path through another way to the work root
// (a link the site keeps to it, here alias) was taken for a directory
// outside the work root and made by its path, following a link a
// workload put at a, below the work root, to make b and c wherever it
// led. Such a workDir is now told below the work root by identity and
// walked from it: refused, naming workDir and a, and nothing made there.
func TestSubmitWalksANamedWorkDirSpelledThroughAnotherPath(t *testing.T) {
	for _, root := range []string{"the site's own work root", "the default work root"} {
		t.Run(root, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			site := catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(dir, "work")}
			work := site.WorkDir
			if root == "the default work root" {
				site.WorkDir, work = "", filepath.Join(state, "work")
			}
			calls := filepath.Join(dir, "sbatch-calls")
			b := fakeSlurmSite(t, state, site, map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
			alias := filepath.Join(dir, "alias")
			if err := os.Symlink(work, alias); err != nil {
				t.Fatal(err)
			}
			outside := filepath.Join(dir, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(work, "a")); err != nil {
				t.Fatal(err)
			}
			id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: filepath.Join(alias, "a", "b", "c"), Command: []string{"true"}})
			if err == nil || !strings.Contains(err.Error(), "workDir") || !strings.Contains(err.Error(), " a, ") || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("link at a: Submit = %q, %v; want a refusal naming workDir and a as a link", id, err)
			}
			if entries, err := os.ReadDir(outside); err != nil || len(entries) != 0 {
				t.Errorf("link at a: Submit made %v where it leads (%v); want nothing", entries, err)
			}
			if _, cerr := os.Stat(calls); !os.IsNotExist(cerr) {
				t.Errorf("link at a: sbatch run (%v); want no job sent", cerr)
			}
		})
	}
}

// TestSubmitNamesWorkDirForAFileOnItsWay: a file a workload put at a,
// below the work root, where a job's workDir a/b/c goes, failed Submit
// with an error that named neither the setting nor the file (os.Root's
// "statat work/a/b/c: not a directory"). It now names workDir and the
// file.
func TestSubmitNamesWorkDirForAFileOnItsWay(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm"}, map[string]string{"sbatch": "#!/bin/sh\necho 555\n"})
	file := filepath.Join(state, "work", "a")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: "a/b/c", Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "workDir a/b/c") || !strings.Contains(err.Error(), file) {
		t.Errorf("file at a: Submit = %q, %v; want an error naming workDir and %s", id, err, file)
	}
}
