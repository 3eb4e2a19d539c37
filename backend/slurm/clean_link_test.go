package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
)

// TestCleanRemovesALinkOutOnTheWorkDirectorysWay: a link a workload put
// in place of the state directory's work/ (the attempts' work
// directories' root), leading out, failed the Clean of every attempt
// ("path escapes from parent") until someone removed it by hand. Clean
// now removes the link itself, never what it points to, and goes on; a
// link in place of the attempt's own work directory is removed the same
// way.
func TestCleanRemovesALinkOutOnTheWorkDirectorysWay(t *testing.T) {
	for _, at := range []string{"work", filepath.Join("work", "r1-1")} {
		dir := t.TempDir()
		state, outside := filepath.Join(dir, "state"), filepath.Join(dir, "outside")
		keep := filepath.Join(outside, "r1-1", "keep")
		if err := os.MkdirAll(filepath.Dir(keep), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keep, []byte("the server's own\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// slurmctld has forgotten the job, which never started: its
		// work directory may go.
		b := fakeSlurm(t, state, map[string]string{
			"squeue": "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
		})
		slurm.WriteRecord(t, state, filepath.Join("handles", "777"), "r1-1")
		slurm.WriteRecord(t, state, filepath.Join("jobs", "r1-1", "jobid"), "777")
		link, target := filepath.Join(state, at), outside
		if at != "work" {
			target = filepath.Dir(keep)
		}
		if err := os.RemoveAll(link); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := b.Clean(context.Background(), "777"); err != nil {
			t.Errorf("link out at %s: Clean: %v", at, err)
		}
		if _, err := os.Lstat(link); !os.IsNotExist(err) {
			t.Errorf("link out at %s: still there after Clean (%v)", at, err)
		}
		if data, err := os.ReadFile(keep); err != nil || string(data) != "the server's own\n" {
			t.Errorf("link out at %s: Clean changed what it pointed to: %q, %v", at, data, err)
		}
	}
}
