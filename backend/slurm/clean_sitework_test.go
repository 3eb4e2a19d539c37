package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestCleanRemovesThroughTheSitesWorkRootAsOpened: a site's own work
// root, outside the state directory (backend.workDir), had each
// attempt's work directory removed by its path at Clean: a link put in
// place of the work root, or of a directory above it, since the start
// (by whoever may write there: the cluster user's workloads, on a shared
// scratch) had Clean remove the directory of the attempt's name wherever
// the link led, with all it held. The work root is now opened once, at
// start, and the attempt's directory removed through it; a link in the
// attempt's directory's own place is removed itself, never what it
// points to.
func TestCleanRemovesThroughTheSitesWorkRootAsOpened(t *testing.T) {
	for _, at := range []string{"the work root", "a directory above it", "the job's directory"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			state, site := filepath.Join(dir, "state"), filepath.Join(dir, "scratch", "site")
			work := filepath.Join(site, "work")
			// The directory the link leads to holds one of the
			// attempt's name, which is not the server's to remove.
			victim := filepath.Join(dir, "victim")
			keep := filepath.Join(victim, "work", "r1-1", "keep")
			if err := os.MkdirAll(filepath.Dir(keep), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keep, []byte("the server's own\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			squeue := "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
			b := fakeSlurmSite(t, state, catalog.BackendSpec{Type: "slurm", WorkDir: work}, map[string]string{"squeue": squeue})
			slurm.WriteRecord(t, state, filepath.Join("handles", "777"), "r1-1")
			slurm.WriteRecord(t, state, filepath.Join("jobs", "r1-1", "jobid"), "777")
			// The attempt's own work directory, as Submit makes it.
			own := filepath.Join(work, "r1-1", "checkpoint")
			if err := os.MkdirAll(filepath.Dir(own), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(own, []byte("the attempt's\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// Since the start, a link put in place of at; what was there
			// moved aside, as the swap leaves it.
			var link, target, moved string
			switch at {
			case "the work root":
				link, target, moved = work, filepath.Join(victim, "work"), filepath.Join(site, "work.old")
			case "a directory above it":
				link, target, moved = site, victim, filepath.Join(dir, "scratch", "site.old")
			default:
				link, target, moved = filepath.Join(work, "r1-1"), filepath.Join(victim, "work", "r1-1"), filepath.Join(work, "r1-1.old")
			}
			if err := os.Rename(link, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			if err := b.Clean(context.Background(), "777"); err != nil {
				t.Fatalf("Clean: %v", err)
			}
			if data, err := os.ReadFile(keep); err != nil || string(data) != "the server's own\n" {
				t.Errorf("link in place of %s: Clean removed the directory it led to: %q, %v", at, data, err)
			}
			if at != "the job's directory" {
				// The attempt's own directory, in the work root as
				// opened at start, is gone.
				ownNow := filepath.Join(moved, "r1-1")
				if at == "a directory above it" {
					ownNow = filepath.Join(moved, "work", "r1-1")
				}
				if _, err := os.Lstat(ownNow); !os.IsNotExist(err) {
					t.Errorf("link in place of %s: the attempt's work directory %s still there (%v)", at, ownNow, err)
				}
			} else if _, err := os.Lstat(link); !os.IsNotExist(err) {
				t.Errorf("link in place of the job's directory still there after Clean (%v)", err)
			}
		})
	}
}

// fakeSlurmSite is fakeSlurm for the site's settings site.
func fakeSlurmSite(t *testing.T, stateDir string, site catalog.BackendSpec, scripts map[string]string) *slurm.Slurm {
	t.Helper()
	bin := t.TempDir()
	for name, script := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := slurm.New(site, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
