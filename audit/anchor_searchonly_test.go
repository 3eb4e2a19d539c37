package audit

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
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
	const nobody = 65534
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(top, "audit.test")
	copyTestExecutable(t, exe)
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
	cmd := exec.Command(exe, "-test.run=^TestOpenAnchorsBelowASearchOnlyDirectory$", "-test.count=1")
	cmd.Env = append(os.Environ(), envAnchorsAsChild+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("OpenAnchors as uid %d below %s (mode 0711): %v\n%s", nobody, hidden, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, AnchorKeyFile)); err != nil {
		t.Errorf("anchor key not made: %v", err)
	}
}

// copyTestExecutable copies this test's executable to dst, mode 0755.
func copyTestExecutable(t *testing.T, dst string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
