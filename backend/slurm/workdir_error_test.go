package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestSubmitWorkDirErrorNamesItOnce: a workDir refused while it was made
// read "slurm submit KEY: work dir: work dir /x: ...", the prefix said
// twice and never naming the field. Each refusal now reads "slurm submit
// KEY: workDir X: ...", once.
func TestSubmitWorkDirErrorNamesItOnce(t *testing.T) {
	b, dir, work, calls := resolveSetup(t, "the site's own work root")
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(work, "link")); err != nil {
		t.Fatal(err)
	}
	for _, wd := range []string{file + "/", filepath.Join(work, "plain"), "plain", filepath.Join(work, "link"), "link", work} {
		_, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: wd, Command: []string{"true"}})
		if err == nil {
			t.Errorf("workDir %s: accepted; want it refused", wd)
			continue
		}
		// A relative one is named as resolved below the work root.
		named := wd
		if !filepath.IsAbs(wd) {
			named = filepath.Join(work, wd)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "slurm submit r1-1: workDir "+named+": ") || strings.Contains(msg, "work dir") || strings.Count(msg, "slurm submit") != 1 {
			t.Errorf("workDir %s: %q; want one prefix, slurm submit r1-1: workDir %s: ...", wd, msg, named)
		}
	}
	noJobSent(t, calls)
}
