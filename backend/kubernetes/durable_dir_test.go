package kubernetes

import (
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// TestRecordsDirectorySyncedIntoItsParent: the directory of the records of
// submissions was made with os.Mkdir and never synced into its parent: a
// power loss could take it, with records synced inside it, after the Jobs
// they name were made. It is now synced into its parent, as is each
// directory above it made for it.
func TestRecordsDirectorySyncedIntoItsParent(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	atomicfile.SyncHook = func(dir string) { mu.Lock(); synced = append(synced, dir); mu.Unlock() }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	srv := httptest.NewServer(newFakeAPI(t))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	state := filepath.Join(root, "state")
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		state, &rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{root, state} {
		if !slices.Contains(synced, want) {
			t.Errorf("%s not synced after a directory was made in it (synced %q)", want, synced)
		}
	}
}
