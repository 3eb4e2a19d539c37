package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// flockedMark flocks a new file in dir and returns it, its stat and the
// file's name in this process's own fdinfo "lock:" line for it.
func flockedMark(t *testing.T, dir string) (*os.File, *syscall.Stat_t, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "locked"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	mark, err := ownLockMark(f)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return f, &st, mark
}

// TestLockMarkIsTheKernels: the mark a holder's fdinfo line is matched
// against is the kernel's own name of a file flocked in the directory.
func TestLockMarkIsTheKernels(t *testing.T) {
	dir := t.TempDir()
	_, st, kernels := flockedMark(t, dir)
	got, err := lockMarkIn(dir, st)
	if err != nil || got != kernels {
		t.Fatalf("lockMarkIn: %q, %v; the kernel's lock line names %q", got, err, kernels)
	}
}

// overlayChildEnv has the test binary check the mark on an overlayfs
// mount, in a mount namespace of its own (TestLockMarkOnOverlay).
const overlayChildEnv = "MERIDIAN_LOCKMARK_OVERLAY"

// TestLockMarkOnOverlay: on overlayfs (and btrfs) the lock line names the
// filesystem's own device, not stat's st_dev (a file's layer's): the
// mark made from st_dev matched no holder, and every Cancel of a job
// whose command ran on failed, signalling nothing. The mark is learnt
// from the kernel now. The overlay is mounted in a user and mount
// namespace of a child, which needs no privilege of the test's.
func TestLockMarkOnOverlay(t *testing.T) {
	if dir := os.Getenv(overlayChildEnv); dir != "" {
		checkOverlayMark(t, dir)
		return
	}
	c := exec.Command(os.Args[0], "-test.run=^TestLockMarkOnOverlay$", "-test.count=1")
	c.Env = append(os.Environ(), overlayChildEnv+"="+t.TempDir())
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the check on overlayfs: %v\n%s", err, out)
	}
}

// checkOverlayMark mounts an overlay (its lower layer a tmpfs, another
// filesystem than its upper's, as a container's image and volume are)
// under dir and checks lockMarkIn of a file flocked there.
func checkOverlayMark(t *testing.T, dir string) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	lower, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "merged")
	if err := unix.Mount("none", lower, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + lower + ",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH) //nolint:errcheck
	_, st, kernels := flockedMark(t, merged)
	got, err := lockMarkIn(merged, st)
	if err != nil || got != kernels {
		t.Fatalf("lockMarkIn on overlayfs: %q, %v; the kernel's lock line names %q (st_dev %d:%d)",
			got, err, kernels, unix.Major(st.Dev), unix.Minor(st.Dev))
	}
}
