package slurm_test

import (
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestFailedStartClosesTheSitesWorkRoot: New opened a site's own work
// root and kept it open when a later step of the start failed (here the
// site's record key file, which is missing), one descriptor for each try,
// as a server retrying a site's start would. It is closed now.
func TestFailedStartClosesTheSitesWorkRoot(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	site := catalog.BackendSpec{Type: "slurm", WorkDir: work, RecordKeyFile: filepath.Join(dir, "keys", "missing.key")}
	for range 3 {
		if b, err := slurm.New(site, filepath.Join(dir, "state")); err == nil {
			t.Fatalf("New = %v with a missing record key file; want an error", b)
		}
	}
	if n := openDescriptorsOf(t, work); n != 0 {
		t.Errorf("after 3 failed starts, %d descriptors of the work root %s are open; want none", n, work)
	}
}

// openDescriptorsOf counts this process's open descriptors of path.
func openDescriptorsOf(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if to, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && to == path {
			n++
		}
	}
	return n
}
