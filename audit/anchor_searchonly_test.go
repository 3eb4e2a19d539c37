package audit

import (
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/internal/captest"
)

// envAnchorsAsChild, set, has TestOpenAnchorsBelowASearchOnlyDirectory
// open the anchor directory it names, as the child the test starts.
const envAnchorsAsChild = "MERIDIAN_TEST_OPEN_ANCHORS"

// TestOpenAnchorsBelowASearchOnlyDirectory: OpenAnchors synced the
// parent of an anchor directory already there (atomicfile.MkdirAll of an
// entry found), opening it to read, so a server whose anchor directory
// lies in a directory it may search but not read (mode 0711, root's)
// died at its start (`audit anchor: open …: permission denied`), where
// it had started before. It starts again: the filesystem is synced
// through the anchor directory itself.
func TestOpenAnchorsBelowASearchOnlyDirectory(t *testing.T) {
	if dir := os.Getenv(envAnchorsAsChild); dir != "" {
		a, err := OpenAnchors(dir)
		if err != nil {
			t.Fatalf("as uid %d: %v", os.Geteuid(), err)
		}
		if a.priv == nil {
			t.Fatal("no anchor key")
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to open the anchors as another user below a directory of root's")
	}
	const nobody = captest.Nobody
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hidden := filepath.Join(top, "hidden")
	if err := os.Mkdir(hidden, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hidden, 0o711); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(hidden, "anchors")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	captest.RerunAsNobody(t, top, envAnchorsAsChild+"="+dir)
	if _, err := os.Stat(filepath.Join(dir, AnchorKeyFile)); err != nil {
		t.Errorf("anchor key not made: %v", err)
	}
}
