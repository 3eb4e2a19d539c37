package local_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// TestJobDirectorySyncedIntoItsParent: a job's directory, which holds the
// record that its attempt was launched, was made with os.MkdirAll and
// never synced into jobs/: a power loss could take it, and the record
// synced inside it. It is now synced into its parent.
func TestJobDirectorySyncedIntoItsParent(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	atomicfile.SyncHook = func(dir string) { mu.Lock(); synced = append(synced, dir); mu.Unlock() }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	state := t.TempDir()
	b, err := local.New(catalog.BackendSpec{Type: "local"}, state)
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: "durable", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()}
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Cancel(context.Background(), h)
	mu.Lock()
	defer mu.Unlock()
	if want := filepath.Join(state, "jobs"); !slices.Contains(synced, want) {
		t.Errorf("%s not synced after the job's directory was made in it (synced %q)", want, synced)
	}
}
