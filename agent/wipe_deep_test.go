package agent

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWipeRemovesADeepReadOnlyTree: a workload run as the agent's own user
// may move its unsealed data under directories nested deeper than a path
// can name (each made relative to the one before), and take the write bit
// off the deepest. The wipe must still remove it: otherwise the plaintext
// stays at the site, and once the agent removes the lock beside the
// scratch no sweep touches it again.
func TestWipeRemovesADeepReadOnlyTree(t *testing.T) {
	if asUnprivileged(t) {
		return // root removes entries of read-only directories anyway
	}
	wd := t.TempDir()
	name := strings.Repeat("d", 200)
	fd, err := unix.Open(wd, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 40 { // 8,000 bytes of path: past PATH_MAX
		if err := unix.Mkdirat(fd, name, 0o700); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	f, err := unix.Openat(fd, "plain", unix.O_WRONLY|unix.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(f, []byte("secret"))
	unix.Close(f)
	if err := unix.Fchmod(fd, 0o500); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	checkedAttempt(t, wd).wipe()
	if ents, err := os.ReadDir(wd); err != nil || len(ents) != 0 {
		t.Errorf("after the wipe the scratch holds %v (%v); want nothing", names(ents), err)
		// For TempDir's cleanup.
		removeDeep(t, wd)
	}
}

// removeDeep makes a deep tree under dir writable, relative to each
// directory, for the test's cleanup.
func removeDeep(t *testing.T, dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return
	}
	for {
		unix.Fchmod(fd, 0o700)
		next, err := unix.Openat(fd, strings.Repeat("d", 200), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			return
		}
		fd = next
	}
}

// TestWipeRemovesALockedDirectoryInside: a directory inside the scratch
// with all its bits taken off (chmod 000) cannot even be opened to give
// them back: the wipe gives them back from the directory above it.
func TestWipeRemovesALockedDirectoryInside(t *testing.T) {
	if asUnprivileged(t) {
		return // root removes entries of read-only directories anyway
	}
	wd := t.TempDir()
	sub := wd + "/data/ds"
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sub+"/plain", []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sub, 0); err != nil {
		t.Fatal(err)
	}
	checkedAttempt(t, wd).wipe()
	if ents, err := os.ReadDir(wd); err != nil || len(ents) != 0 {
		t.Errorf("after the wipe the scratch holds %v (%v); want nothing", names(ents), err)
		os.Chmod(sub, 0o700) // for TempDir's cleanup
	}
}
