package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/statedir"
)

// tempFiles writes, in dir, files named as writers' temporary files:
// stale (two StaleTempAge old) and fresh. It returns their paths.
func tempFiles(t *testing.T, dir string, stale, fresh []string) (oldPaths, newPaths []string) {
	t.Helper()
	old := time.Now().Add(-2 * atomicfile.StaleTempAge)
	write := func(name string, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("torn"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, n := range stale {
		oldPaths = append(oldPaths, write(n, old))
	}
	for _, n := range fresh {
		newPaths = append(newPaths, write(n, time.Now()))
	}
	return oldPaths, newPaths
}

// staleLink puts in dir a link named name to a stale file of that name
// outside it, and returns both: a link is never followed nor removed.
func staleLink(t *testing.T, dir, name string) []string {
	t.Helper()
	outside, _ := tempFiles(t, t.TempDir(), []string{name}, nil)
	link := filepath.Join(dir, name)
	if err := os.Symlink(outside[0], link); err != nil {
		t.Fatal(err)
	}
	return []string{outside[0], link}
}

func wantGone(t *testing.T, paths []string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", filepath.Base(p), err)
		}
	}
}

func wantKept(t *testing.T, paths []string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v, want it kept", p, err)
		}
	}
}

// TestStateStaleTempsRemovedAtCommandStart: a `dataset add` killed between
// writing datasets/NAME.yaml to its temporary file and renaming it left
// the file in the state directory for good. A command that opens the
// state directory (plan screening, the dataset commands, a client's
// client.json) now removes those an hour old; a fresh one, which another
// command may be filling, files of other names, and a link (and what it
// points to) stay.
func TestStateStaleTempsRemovedAtCommandStart(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(t *testing.T)
	}{
		{"plan", func(t *testing.T) {
			dir := t.TempDir()
			sites := filepath.Join(dir, "sites")
			os.Mkdir(sites, 0o755)
			writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
			job := writePlanFile(t, dir, "job.yaml", planOrg+planJob)
			if out, code, err := runPlanCLI(t, "plan", "-f", job, "--catalog", sites, "--as-of", "2025-06-01"); code != exitOK {
				t.Fatalf("plan: exit %d: %v\n%s", code, err, out)
			}
		}},
		{"openState", func(t *testing.T) {
			if _, err := openState(); err != nil {
				t.Fatal(err)
			}
		}},
		{"screenStore", func(t *testing.T) {
			if _, err := screenStore(); err != nil {
				t.Fatal(err)
			}
		}},
		{"readClientConfig", func(t *testing.T) {
			d, err := statedir.Default()
			if err != nil {
				t.Fatal(err)
			}
			readClientConfig(d.Path)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			d := statedir.Dir{Path: home}
			if err := os.MkdirAll(d.Datasets(), 0o700); err != nil {
				t.Fatal(err)
			}
			t.Setenv(statedir.Env, home)
			stale, kept := tempFiles(t, d.Datasets(),
				[]string{".d.yaml.tmp-1", ".other-set.yaml.tmp-4294967295"},
				[]string{".d.yaml.tmp-3"})
			foreign, _ := tempFiles(t, d.Datasets(),
				[]string{".d.key.tmp-4", ".Bad_Name.yaml.tmp-5", ".d.yaml.tmp-x6", "d.yaml.tmp-7"}, nil)
			kept = append(kept, foreign...)
			kept = append(kept, staleLink(t, d.Datasets(), ".e.yaml.tmp-8")...)
			c.do(t)
			wantGone(t, stale)
			wantKept(t, kept)
		})
	}
}

// TestUserFileStaleTempsRemovedWhenWritten: a command killed between
// writing a file the user named (the configuration file, plan --plot,
// dataset key --out) to its temporary file and renaming it left the file
// beside it for good. The next write of that file removes those an hour
// old; a fresh one, temporary files of other files of that directory, and
// a link stay.
func TestUserFileStaleTempsRemovedWhenWritten(t *testing.T) {
	for _, c := range []struct {
		name, file string
		write      func(path string) error
	}{
		{"config", "config.yaml", func(p string) error { return (&cliConfig{}).save(p) }},
		{"plot", "plan.svg", func(p string) error { return writePlot(p, &planner.Plan{Job: "j", AsOf: "2026-06-01"}) }},
		{"key out", "d.key", func(p string) error { return writeUserFile(p, []byte("k\n"), 0o600) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			stale, kept := tempFiles(t, dir,
				[]string{"." + c.file + ".tmp-1", "." + c.file + ".tmp-22"},
				[]string{"." + c.file + ".tmp-3"})
			foreign, _ := tempFiles(t, dir, []string{".other" + c.file + ".tmp-4", "." + c.file + ".tmp-", "." + c.file + ".bak"}, nil)
			kept = append(kept, foreign...)
			kept = append(kept, staleLink(t, dir, "."+c.file+".tmp-5")...)
			if err := c.write(filepath.Join(dir, c.file)); err != nil {
				t.Fatal(err)
			}
			wantGone(t, stale)
			wantKept(t, kept)
		})
	}
}
