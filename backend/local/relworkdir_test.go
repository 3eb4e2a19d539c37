package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestRelativeWorkDirWithDotDotRefused: a relative workDir was joined to
// the work root by its letters, so ../escape named a directory beside the
// work root (a/../../escape too), and Submit made it and ran the job
// there. A relative workDir with any ".." is now refused, naming the
// field, before anything is made: no directory there, no job directory.
func TestRelativeWorkDirWithDotDotRefused(t *testing.T) {
	top := t.TempDir()
	state := filepath.Join(top, "state")
	b, err := local.New(catalog.BackendSpec{Type: "local", WorkDir: filepath.Join(top, "work")}, state)
	if err != nil {
		t.Fatal(err)
	}
	for i, wd := range []string{"../escape", "a/../../escape", "a/../b"} {
		spec := backend.Spec{RunID: "dotdot", Attempt: i + 1, Command: []string{"true"}, WorkDir: wd}
		_, err := b.Submit(context.Background(), spec)
		if !errors.Is(err, backend.ErrInvalid) || !strings.Contains(err.Error(), "workDir") {
			t.Errorf("workDir %q: %v, want an invalid spec naming workDir", wd, err)
		}
		if _, err := os.Lstat(filepath.Join(state, "jobs", spec.Key())); !os.IsNotExist(err) {
			t.Errorf("workDir %q: job directory %v, want none made", wd, err)
		}
	}
	for _, p := range []string{filepath.Join(top, "escape"), filepath.Join(top, "work", "b"), filepath.Join(top, "work", "a")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want nothing made", p, err)
		}
	}
}
