package slurm_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestSubmitRefusesARelativeWorkDirThatClimbsOut: a relative workDir is
// resolved below the work root, but joined to it by its letters
// ../other-1/x named other-1/x beside the work root (a/../../x, x beside
// it), made there and the job sent to run in it. A ".." in a relative
// workDir is now refused, naming workDir and the problem: nothing is made
// outside the work root and no job is sent.
func TestSubmitRefusesARelativeWorkDirThatClimbsOut(t *testing.T) {
	for _, root := range []string{"the site's own work root", "the default work root"} {
		for _, wd := range []string{"../other-1/x", "a/../../x", "a/../b"} {
			t.Run(root+", "+wd, func(t *testing.T) {
				b, _, work, calls := resolveSetup(t, root)
				before := snapshotNames(t, filepath.Dir(work))
				id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: wd, Command: []string{"true"}})
				if err == nil || !strings.Contains(err.Error(), "workDir "+wd) || !strings.Contains(err.Error(), "..") {
					t.Errorf("Submit = %q, %v; want a refusal naming workDir %s and its ..", id, err, wd)
				}
				for _, p := range []string{filepath.Join(filepath.Dir(work), "other-1", "x"), filepath.Join(filepath.Dir(work), "x"), filepath.Join(work, "b")} {
					if _, err := os.Lstat(p); err == nil {
						t.Errorf("Submit made %s", p)
					}
				}
				if after := snapshotNames(t, filepath.Dir(work)); !slices.Equal(before, after) {
					t.Errorf("beside the work root: %q after Submit, %q before; want nothing made", after, before)
				}
				noJobSent(t, calls)
			})
		}
	}
}

// TestRESTRefusesARelativeWorkDirThatClimbsOut: through slurmrestd, a
// relative workDir is put under the site's backend.workDir by its
// letters too, ../other/x beside it: refused, naming workDir, and no job
// is posted.
func TestRESTRefusesARelativeWorkDirThatClimbsOut(t *testing.T) {
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("GET /slurm/v0.0.38/jobs", jobsHandler([]map[string]any{}))
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		http.Error(w, "not expected", http.StatusInternalServerError)
	})
	url, trust := tlsServer(t, mux)
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "a.b.c"), User: "u", WorkDir: "/scratch/work"}
	b := newREST(t, site, t.TempDir(), trust)
	for _, wd := range []string{"../other/x", "a/../../x"} {
		if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: wd, Command: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "workDir "+wd) {
			t.Errorf("workDir %s: Submit = %q, %v; want a refusal naming workDir", wd, id, err)
		}
	}
	if n := posts.Load(); n != 0 {
		t.Errorf("%d jobs posted; want none", n)
	}
}

// snapshotNames is the names in dir.
func snapshotNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestRESTRefusesAWorkDirThatIsTheWorkRoot: through slurmrestd, a workDir
// of ".", "./", the work root's path (with or without a trailing /), or
// a directory above it named the work root, which the agent's wipe at the
// attempt's end would empty: refused by their names, naming workDir, and
// no job is posted.
func TestRESTRefusesAWorkDirThatIsTheWorkRoot(t *testing.T) {
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("GET /slurm/v0.0.38/jobs", jobsHandler([]map[string]any{}))
	mux.HandleFunc("POST /slurm/v0.0.38/job/submit", func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		http.Error(w, "not expected", http.StatusInternalServerError)
	})
	url, trust := tlsServer(t, mux)
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "a.b.c"), User: "u", WorkDir: "/scratch/work"}
	b := newREST(t, site, t.TempDir(), trust)
	for _, wd := range []string{".", "./", "/scratch/work", "/scratch/work/", "/scratch/work/.", "/scratch", "/"} {
		id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: wd, Command: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), "slurm submit: workDir "+wd+":") {
			t.Errorf("workDir %s: Submit = %q, %v; want a refusal naming workDir", wd, id, err)
		}
	}
	if n := posts.Load(); n != 0 {
		t.Errorf("%d jobs posted; want none", n)
	}
}
