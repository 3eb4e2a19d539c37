package slurm_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// syncedDirs records the directories atomicfile syncs until the test ends.
func syncedDirs(t *testing.T) func() []string {
	var mu sync.Mutex
	var synced []string
	atomicfile.SyncHook = func(dir string) {
		mu.Lock()
		synced = append(synced, dir)
		mu.Unlock()
	}
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(synced)
		synced = synced[:0]
		return out
	}
}

// TestRecordDirectoriesAreSyncedIntoTheirParents: the backend made its
// state directory, jobs, handles and ended, each attempt's directory and
// the record key's directory with os.MkdirAll, and synced only the files
// it wrote in them: a power loss after sbatch could take the attempt's
// directory, with its intent and job id (the attempt was then submitted
// again, a second job on the cluster), or the key's directory (every
// record then failed to verify). Each directory made is now synced into
// its parent.
func TestRecordDirectoriesAreSyncedIntoTheirParents(t *testing.T) {
	synced := syncedDirs(t)
	root := t.TempDir()
	want := func(what string, got []string, dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if !slices.Contains(got, d) {
				t.Errorf("%s: %s, where a directory was made, not synced (synced %q)", what, d, got)
			}
		}
	}

	state := filepath.Join(root, "a", "state")
	keyDir := filepath.Join(root, "keys", "slurm")
	bin := t.TempDir()
	for name, script := range map[string]string{"squeue": "#!/bin/sh\nexit 0\n", "sbatch": "#!/bin/sh\necho 555\n"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(filepath.ListSeparator)+os.Getenv("PATH"))
	b, err := slurm.New(catalog.BackendSpec{Type: "slurm"}, state, slurm.RecordKeyFile(filepath.Join(keyDir, "record-key")))
	if err != nil {
		t.Fatal(err)
	}
	// The parent of each directory New made: root (of a and keys), a (of
	// state), state (of jobs, handles, ended, work), keys (of slurm).
	want("New", synced(), root, filepath.Join(root, "a"), state, filepath.Join(root, "keys"))

	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}}); err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want job 555", id, err)
	}
	want("Submit", synced(), filepath.Join(state, "jobs"))

	url, trust := tlsServer(t, http.NotFoundHandler())
	restState := filepath.Join(root, "b", "state")
	newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "durable.token")}, restState, trust)
	want("NewREST", synced(), root, filepath.Join(root, "b"), restState)
}
