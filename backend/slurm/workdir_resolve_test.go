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

// resolveSetup is a backend with the site's own work root, or the
// default one, its path (work), where sbatch records each call (calls).
func resolveSetup(t *testing.T, root string) (b *slurm.Slurm, dir, work, calls string) {
	t.Helper()
	dir = t.TempDir()
	state := filepath.Join(dir, "state")
	site := catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(dir, "work")}
	work = site.WorkDir
	if root == "the default work root" {
		site.WorkDir, work = "", filepath.Join(state, "work")
	}
	calls = filepath.Join(dir, "sbatch-calls")
	b = fakeSlurmSite(t, state, site, map[string]string{"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n"})
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	return b, dir, work, calls
}

// noJobSent fails the test where sbatch was run.
func noJobSent(t *testing.T, calls string) {
	t.Helper()
	if _, err := os.Stat(calls); !os.IsNotExist(err) {
		t.Errorf("sbatch run (%v); want no job sent", err)
	}
}

// TestSubmitRefusesALinkBackToTheWorkRootThroughAnAlias: a workload's
// link below the work root back to it (x -> .) and a workDir spelled
// through a site's link to the work root (alias/x/other-1) had the
// parents of the workDir looked at deepest first, links followed:
// alias/x was the work root by identity, so the workDir was walked from
// it as other-1, another attempt's directory, and the job sent to run
// there. The workDir is now resolved from /, top-down, to the work root
// (alias), and x walked below it without following: refused, naming
// workDir and x, and no job sent.
func TestSubmitRefusesALinkBackToTheWorkRootThroughAnAlias(t *testing.T) {
	for _, root := range []string{"the site's own work root", "the default work root"} {
		t.Run(root, func(t *testing.T) {
			b, dir, work, calls := resolveSetup(t, root)
			if err := os.Mkdir(filepath.Join(work, "other-1"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(".", filepath.Join(work, "x")); err != nil {
				t.Fatal(err)
			}
			alias := filepath.Join(dir, "alias")
			if err := os.Symlink(work, alias); err != nil {
				t.Fatal(err)
			}
			id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: filepath.Join(alias, "x", "other-1"), Command: []string{"true"}})
			if err == nil || !strings.Contains(err.Error(), "workDir") || !strings.Contains(err.Error(), " x, ") || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("Submit = %q, %v; want a refusal naming workDir and x as a link", id, err)
			}
			noJobSent(t, calls)
		})
	}
}

// TestSubmitRefusesALinkOutOfTheWorkRootBelowASiteLink: a site's link
// to a directory in the work root (proj -> WORK/projects) and a
// workload's link below it leading out (WORK/projects/a -> outside), a
// workDir proj/a/b/c: none of its parents was the work root itself, so
// it was made by its path, b and c made in outside, and the job sent to
// run there. Resolved from / to the work root, projects/a/b/c is now
// walked below it: refused at a, nothing made in outside, no job sent.
func TestSubmitRefusesALinkOutOfTheWorkRootBelowASiteLink(t *testing.T) {
	for _, root := range []string{"the site's own work root", "the default work root"} {
		t.Run(root, func(t *testing.T) {
			b, dir, work, calls := resolveSetup(t, root)
			outside := filepath.Join(dir, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(work, "projects"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(work, "projects", "a")); err != nil {
				t.Fatal(err)
			}
			proj := filepath.Join(dir, "proj")
			if err := os.Symlink(filepath.Join(work, "projects"), proj); err != nil {
				t.Fatal(err)
			}
			id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: filepath.Join(proj, "a", "b", "c"), Command: []string{"true"}})
			if err == nil || !strings.Contains(err.Error(), "workDir") || !strings.Contains(err.Error(), filepath.Join("projects", "a")+", ") || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("Submit = %q, %v; want a refusal naming workDir and projects/a as a link", id, err)
			}
			if entries, err := os.ReadDir(outside); err != nil || len(entries) != 0 {
				t.Errorf("Submit made %v in outside (%v); want nothing", entries, err)
			}
			noJobSent(t, calls)
		})
	}
}

// TestSubmitRefusesALinkOthersMayReplaceOnAWorkDirsWay: a link to the
// work root in a directory every user may write (shared/alias) was
// followed, though anyone could have put it there, or put another in
// its place, to lead the workDir where they liked. Such a link is now
// refused, naming workDir and the link, and no job sent.
func TestSubmitRefusesALinkOthersMayReplaceOnAWorkDirsWay(t *testing.T) {
	b, dir, work, calls := resolveSetup(t, "the site's own work root")
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(shared, "alias")
	if err := os.Symlink(work, alias); err != nil {
		t.Fatal(err)
	}
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: filepath.Join(alias, "r"), Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "workDir") || !strings.Contains(err.Error(), alias+" is a symbolic link") || !strings.Contains(err.Error(), "others may write") {
		t.Errorf("Submit = %q, %v; want a refusal naming workDir and %s as a link others may replace", id, err, alias)
	}
	noJobSent(t, calls)
}

// TestSubmitWalksATrustedAliasToTheWorkRoot: a workDir spelled through
// the site's own link to the work root (its user's, in a directory only
// it writes) is made below the work root and the job sent.
func TestSubmitWalksATrustedAliasToTheWorkRoot(t *testing.T) {
	b, dir, work, _ := resolveSetup(t, "the site's own work root")
	alias := filepath.Join(dir, "alias")
	if err := os.Symlink(work, alias); err != nil {
		t.Fatal(err)
	}
	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: filepath.Join(alias, "a", "b"), Command: []string{"true"}}); err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want job 555", id, err)
	}
	if fi, err := os.Lstat(filepath.Join(work, "a", "b")); err != nil || !fi.IsDir() {
		t.Errorf("a/b not made in the work root: %v", err)
	}
}

// TestSubmitRefusesASiteLinkInsideTheWorkRoot: a site's link inside the
// work root (current -> 2026-12), which jobs named as workDir current/x,
// was followed before links below the work root were refused; it is
// refused now, and the error, which named only the link, says to name
// the directory it leads to instead. No job is sent.
func TestSubmitRefusesASiteLinkInsideTheWorkRoot(t *testing.T) {
	b, _, work, calls := resolveSetup(t, "the site's own work root")
	if err := os.Mkdir(filepath.Join(work, "2026-12"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("2026-12", filepath.Join(work, "current")); err != nil {
		t.Fatal(err)
	}
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: "current/x", Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "workDir current/x") || !strings.Contains(err.Error(), "name the directory it leads to") {
		t.Errorf("Submit = %q, %v; want a refusal naming workDir and saying to name the directory the link leads to", id, err)
	}
	noJobSent(t, calls)
}
