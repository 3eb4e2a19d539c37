package slurm

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// TestStaleTempsRemovedAtStart: a server killed while writing a job's
// record, a handle (ID, or ID:KEY for a later attempt given the id) or
// the record key left the temporary file among the
// records for good. The next start (on Slurm's commands or through
// slurmrestd) removes those an hour old, and says so in its log; a fresh
// one, which another backend on the directory may be filling, stays, and
// so do files of other names, entries of directories that are not an
// attempt's, and what a link leads to.
func TestStaleTempsRemovedAtStart(t *testing.T) {
	for _, rest := range []bool{false, true} {
		t.Run(map[bool]string{false: "commands", true: "rest"}[rest], func(t *testing.T) {
			state := t.TempDir()
			old := time.Now().Add(-2 * atomicfile.StaleTempAge)
			job := filepath.Join(state, "jobs", "r1-1")
			gone := []string{
				backendtest.WriteTemp(t, filepath.Join(state, ".record-key.tmp-1"), old),
				backendtest.WriteTemp(t, filepath.Join(state, "handles", ".42.tmp-2"), old),
				backendtest.WriteTemp(t, filepath.Join(state, "ended", ".43.tmp-3"), old),
				backendtest.WriteTemp(t, filepath.Join(job, ".jobid.tmp-4"), old),
				backendtest.WriteTemp(t, filepath.Join(job, ".job.sh.tmp-5"), old),
				backendtest.WriteTemp(t, filepath.Join(job, ".final.json.tmp-6"), old),
				backendtest.WriteTemp(t, filepath.Join(state, "handles", ".42:r1-2.tmp-12"), old),
				backendtest.WriteTemp(t, filepath.Join(state, "ended", ".43:r1-2.tmp-13"), old),
			}
			elsewhere := t.TempDir()
			kept := []string{
				backendtest.WriteTemp(t, filepath.Join(job, ".sweeping.tmp-7"), time.Now()),
				backendtest.WriteTemp(t, filepath.Join(job, ".output.log.tmp-8"), old),
				backendtest.WriteTemp(t, filepath.Join(state, "handles", ".notanid.tmp-9"), old),
				backendtest.WriteTemp(t, filepath.Join(state, "jobs", "not a key", ".jobid.tmp-10"), old),
				backendtest.WriteTemp(t, filepath.Join(elsewhere, ".jobid.tmp-11"), old),
				backendtest.WriteTemp(t, filepath.Join(state, "handles", ".42:not a key.tmp-14"), old),
			}
			if err := os.Symlink(elsewhere, filepath.Join(state, "jobs", "r1-2")); err != nil {
				t.Fatal(err)
			}
			var log syncBuffer
			var err error
			if rest {
				token := filepath.Join(t.TempDir(), "slurm.jwt")
				if err := os.WriteFile(token, []byte("eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.token-one\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				_, err = NewREST(catalog.BackendSpec{Type: "slurm", RestURL: "https://slurm.example:6820", TokenFile: token}, state)
			} else {
				_, err = New(catalog.BackendSpec{Type: "slurm"}, state, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range gone {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("%s: %v, want it removed", p, err)
				}
			}
			for _, p := range kept {
				if _, err := os.Lstat(p); err != nil {
					t.Errorf("%s: %v, want it kept", p, err)
				}
			}
			if !rest && !strings.Contains(log.String(), "files=8") {
				t.Errorf("log %q, want the 8 files removed reported", log.String())
			}
		})
	}
}
