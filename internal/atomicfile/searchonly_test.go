package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/internal/captest"
)

// envSearchOnlyChild, set, has TestFoundEntriesBelowASearchOnlyDirectory
// use the entries below the directory it names, as the child the test
// starts.
const envSearchOnlyChild = "MERIDIAN_TEST_ATOMICFILE_SEARCH_ONLY"

// TestFoundEntriesBelowASearchOnlyDirectory: an entry found already
// there had its directory opened to read, to sync it (SyncEntry), so a
// directory this user may search but not read (mode 0711, root's) failed
// every MkdirAll and SyncEntry of an entry below it, and the
// server with them (`audit anchor: open …: permission denied`), where
// they had passed before. The filesystem is now synced through the entry
// itself: a user other than root uses its own entries below a
// root-owned 0711 directory.
func TestFoundEntriesBelowASearchOnlyDirectory(t *testing.T) {
	if top := os.Getenv(envSearchOnlyChild); top != "" {
		useBelowSearchOnly(t, top)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to use the entries as another user below a directory of root's")
	}
	const nobody = captest.Nobody
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	searchOnly := filepath.Join(top, "search-only")
	if err := os.Mkdir(searchOnly, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(searchOnly, 0o711); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"own1"} {
		if err := os.Mkdir(filepath.Join(searchOnly, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(searchOnly, "key"), []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"own1", "key"} {
		if err := os.Chown(filepath.Join(searchOnly, name), nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	captest.RerunAsNobody(t, top, envSearchOnlyChild+"="+top)
	if fi, err := os.Stat(filepath.Join(searchOnly, "own1", "new")); err != nil || !fi.IsDir() {
		t.Errorf("own1/new not made: %v", err)
	}
}

// useBelowSearchOnly is the child's part: each kind of found entry below
// top/search-only is used, and its directory's sync was tried.
func useBelowSearchOnly(t *testing.T, top string) {
	synced := syncRecorder(t)
	searchOnly := filepath.Join(top, "search-only")
	// own1 is found (its parent synced), own1/new made inside it.
	if err := MkdirAll(filepath.Join(searchOnly, "own1", "new"), 0o700); err != nil {
		t.Errorf("MkdirAll as uid %d: %v", os.Geteuid(), err)
	}
	// MkdirAllIn is not tried: os.Root opens each directory on its way
	// to read, and fails on this one before any sync.
	if err := SyncEntry(filepath.Join(searchOnly, "key")); err != nil {
		t.Errorf("SyncEntry as uid %d: %v", os.Geteuid(), err)
	}
	n := 0
	for _, d := range synced() {
		if d == searchOnly {
			n++
		}
	}
	if n != 2 {
		t.Errorf("the search-only directory's sync was tried %d times, want 2 (one per entry)", n)
	}
}

// TestFoundEntryOnAFilesystemWithoutDirectorySyncs: a filesystem whose
// directories cannot be synced (procfs, as squashfs and iso9660: EINVAL)
// failed MkdirAll and SyncEntry of an entry found there once they synced
// its directory; there is nothing to sync.
func TestFoundEntryOnAFilesystemWithoutDirectorySyncs(t *testing.T) {
	synced := syncRecorder(t)
	if err := MkdirAll("/proc/sys", 0o700); err != nil {
		t.Errorf("MkdirAll of a directory on procfs: %v", err)
	}
	if err := SyncEntry("/proc/version"); err != nil {
		t.Errorf("SyncEntry of a file on procfs: %v", err)
	}
	if got := synced(); !slices.Equal(got, []string{"/proc", "/proc"}) {
		t.Errorf("synced %q, want /proc twice", got)
	}
}
