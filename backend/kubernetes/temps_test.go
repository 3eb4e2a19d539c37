package kubernetes

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// TestStaleTempsRemovedAtStart: a server killed while writing a Job's
// record (or the key for marks) left the temporary file in the records'
// directory for good, and a crash loop grew the directory without bound.
// The next start removes those an hour old; a fresh one, which another
// backend on the state directory may be filling, stays, and so do files
// of other names and what a link leads to.
func TestStaleTempsRemovedAtStart(t *testing.T) {
	state := t.TempDir()
	jobs := filepath.Join(state, "jobs")
	old := time.Now().Add(-2 * atomicfile.StaleTempAge)
	gone := []string{
		backendtest.WriteTemp(t, filepath.Join(jobs, ".meridian-r1-1.json.tmp-1"), old),
		backendtest.WriteTemp(t, filepath.Join(jobs, ".meridian-r2-3.json.tmp-2"), old),
		backendtest.WriteTemp(t, filepath.Join(jobs, "."+markKeyFile+".tmp-3"), old),
	}
	elsewhere := t.TempDir()
	kept := []string{
		backendtest.WriteTemp(t, filepath.Join(jobs, ".meridian-r1-2.json.tmp-4"), time.Now()),
		backendtest.WriteTemp(t, filepath.Join(jobs, ".Not_A_Name.json.tmp-5"), old),
		backendtest.WriteTemp(t, filepath.Join(jobs, ".meridian-r1-1.yaml.tmp-6"), old),
		backendtest.WriteTemp(t, filepath.Join(jobs, "meridian-r1-1.json"), old),
		backendtest.WriteTemp(t, filepath.Join(elsewhere, ".meridian-r1-3.json.tmp-7"), old),
	}
	link := filepath.Join(jobs, ".meridian-r1-3.json.tmp-8")
	if err := os.Symlink(filepath.Join(elsewhere, ".meridian-r1-3.json.tmp-7"), link); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, link)
	srv := httptest.NewServer(newFakeAPI(t))
	t.Cleanup(srv.Close)
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		state, &rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
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
}
