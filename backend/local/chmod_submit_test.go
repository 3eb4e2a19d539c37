package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// lostJob makes what a Submit leaves of a job whose wrapper never recorded
// its pid or an exit code (read as lost, and launched again by the next
// Submit of the attempt), with file (a record of the job's) there too.
func lostJob(t *testing.T, state string, spec backend.Spec, file string) string {
	t.Helper()
	dir := filepath.Join(state, "jobs", spec.Key())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "job.json"), []byte(`{"runID":"`+spec.RunID+`","attempt":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSubmitRestoresTheModeOfItsOwnFiles: a landlock workload runs as the
// server's user and may chmod any job's files. A run.lock (or output.log,
// or lock) made mode 0 made a later Submit of the attempt, one lost and
// launched again, fail: its launch could not open the file. The server
// owns them and now sets their mode back, never through a link.
func TestSubmitRestoresTheModeOfItsOwnFiles(t *testing.T) {
	for _, f := range []struct {
		name string
		perm os.FileMode
	}{{"run.lock", 0o644}, {"output.log", 0o600}, {"lock", 0o644}} {
		t.Run(f.name, func(t *testing.T) {
			state := t.TempDir()
			b := newLocal(t, state)
			spec := backend.Spec{RunID: "rechmod", Attempt: 1, Command: []string{"/bin/sh", "-c", "echo run >>runs.txt"}, WorkDir: t.TempDir()}
			dir := lostJob(t, state, spec, f.name)
			path := filepath.Join(dir, f.name)
			// The other job's workload makes it unreadable.
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			var h string
			err := asTheServersUser(t, func() (err error) {
				h, err = b.Submit(context.Background(), spec)
				return err
			})
			if err != nil {
				t.Fatalf("Submit of a lost job whose %s another job made mode 0: %v", f.name, err)
			}
			if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
				t.Fatalf("status %+v, want succeeded", st)
			}
			if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != f.perm {
				t.Errorf("%s after Submit: %v, %v; want mode %v", f.name, fi.Mode(), err, f.perm)
			}
		})
	}
}

// TestSubmitRefusesALinkForItsOwnFiles: a link standing for run.lock or
// output.log was followed, and the file it named was opened (and, for
// output.log, written) as the job's.
func TestSubmitRefusesALinkForItsOwnFiles(t *testing.T) {
	for _, name := range []string{"run.lock", "output.log"} {
		t.Run(name, func(t *testing.T) {
			state := t.TempDir()
			b := newLocal(t, state)
			spec := backend.Spec{RunID: "linked", Attempt: 1, Command: []string{"/bin/sh", "-c", "echo run"}, WorkDir: t.TempDir()}
			dir := lostJob(t, state, spec, "job.json")
			target := filepath.Join(t.TempDir(), "target")
			if err := os.WriteFile(target, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := b.Submit(context.Background(), spec)
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("Submit with a link for %s: %v; want an error naming it a symbolic link", name, err)
			}
			if data, err := os.ReadFile(target); err != nil || len(data) != 0 {
				t.Errorf("the link's target: %q, %v; want it untouched", data, err)
			}
		})
	}
}
