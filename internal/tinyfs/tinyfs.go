// Package tinyfs mounts a small tmpfs for tests that need a real full disk.
package tinyfs

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of the given size ("1m") on a fresh temporary
// directory, unmounts it when the test ends, and returns the directory.
// Without the right to mount (not root, or a container without
// CAP_SYS_ADMIN) the test is skipped with the reason; any other failure
// fails it.
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size)
	switch {
	case err == nil:
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES):
		t.Skipf("cannot mount a tmpfs here (uid %d: %v); run as root to test a full disk", os.Geteuid(), err)
	default:
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
