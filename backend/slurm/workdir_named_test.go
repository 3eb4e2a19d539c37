package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/atomicfile"
)

// TestSubmitMakesANamedWorkDirOutsideTheWorkRootOnItsWay: a workDir
// outside the work root (named/a/b, named missing) had its links checked
// from /, then was made by its path: a link put in place of named once it
// was made (here when its parent is synced) had a and b made wherever it
// led, and the job sent to run there. Each name is now made and opened
// from the directory held before it: the link is refused, naming workDir
// and the link, nothing is made where it leads, and no job is sent.
func TestSubmitMakesANamedWorkDirOutsideTheWorkRootOnItsWay(t *testing.T) {
	b, dir, _, calls := resolveSetup(t, "the site's own work root")
	named, elsewhere := filepath.Join(dir, "named"), filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	swapped := false
	atomicfile.SyncHook = func(d string) {
		if d != dir || swapped {
			return
		}
		if _, err := os.Lstat(named); err != nil {
			return
		}
		swapped = true
		if err := os.Remove(named); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(elsewhere, named); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: filepath.Join(named, "a", "b"), Command: []string{"true"}})
	if !swapped {
		t.Fatal("named was not swapped for a link: it was not made in its parent")
	}
	if err == nil || !strings.Contains(err.Error(), "workDir") || !strings.Contains(err.Error(), named+": is a symbolic link") {
		t.Errorf("Submit = %q, %v; want a refusal naming workDir and %s as a link", id, err, named)
	}
	if entries, err := os.ReadDir(elsewhere); err != nil || len(entries) != 0 {
		t.Errorf("Submit made %v where the link leads (%v); want nothing", entries, err)
	}
	noJobSent(t, calls)
}

// TestSubmitRefusesANamedWorkDirOutsideTheWorkRootSwappedWhileItIsMade:
// the walk from / holds each directory it made open, so a directory on
// the way renamed away and another made at its path (here when b is made
// in named/a) leaves the walk's b in the one renamed, while sbatch and
// the batch script are given the path, which names the other. The path
// must name the directory made: refused, and no job sent.
func TestSubmitRefusesANamedWorkDirOutsideTheWorkRootSwappedWhileItIsMade(t *testing.T) {
	b, dir, _, calls := resolveSetup(t, "the site's own work root")
	named := filepath.Join(dir, "named")
	swapped := false
	atomicfile.SyncHook = func(d string) {
		if d != filepath.Join(named, "a") || swapped {
			return
		}
		swapped = true
		if err := os.Rename(named, filepath.Join(dir, "named-old")); err != nil {
			t.Error(err)
		}
		if err := os.MkdirAll(filepath.Join(named, "a", "b"), 0o777); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	wd := filepath.Join(named, "a", "b")
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: wd, Command: []string{"true"}})
	if !swapped {
		t.Fatal("named was not swapped: b was not made in named/a")
	}
	if err == nil || !strings.Contains(err.Error(), wd) || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Submit = %q, %v; want a refusal naming %s as replaced", id, err, wd)
	}
	noJobSent(t, calls)
}

// TestSubmitMakesANamedWorkDirOutsideTheWorkRoot: a workDir outside the
// work root, missing, is made (each directory on its way) and the job
// sent to run there; one through a trusted link (the server's own, in a
// directory only it writes) is made where the link leads.
func TestSubmitMakesANamedWorkDirOutsideTheWorkRoot(t *testing.T) {
	b, dir, _, _ := resolveSetup(t, "the site's own work root")
	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: filepath.Join(dir, "named", "a", "b"), Command: []string{"true"}}); err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want job 555", id, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "named", "a", "b")); err != nil || !fi.IsDir() {
		t.Errorf("named/a/b not made: %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "named"), filepath.Join(dir, "proj")); err != nil {
		t.Fatal(err)
	}
	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 2, WorkDir: filepath.Join(dir, "proj", "c"), Command: []string{"true"}}); err != nil || id == "" {
		t.Fatalf("through a trusted link: Submit = %q, %v; want a job", id, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "named", "c")); err != nil || !fi.IsDir() {
		t.Errorf("named/c not made through the link proj: %v", err)
	}
}

// TestSubmitRefusesAWorkDirThatIsAFileWithATrailingSlash: the walk from
// / splits a path into its names and drops a trailing /, which for the
// kernel says "a directory" (and has a link followed): a workDir naming
// a file, or a link to file/, is refused all the same, naming workDir,
// since each name on the way is opened as a directory.
func TestSubmitRefusesAWorkDirThatIsAFileWithATrailingSlash(t *testing.T) {
	b, dir, _, calls := resolveSetup(t, "the site's own work root")
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f/", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	for _, wd := range []string{file + "/", filepath.Join(dir, "l"), filepath.Join(dir, "l") + "/", filepath.Join(dir, "l", "x")} {
		if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: wd, Command: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "workDir "+wd) || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("workDir %s: Submit = %q, %v; want a refusal naming workDir and a file", wd, id, err)
		}
	}
	noJobSent(t, calls)
}
