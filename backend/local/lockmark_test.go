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
	if why, ok := strings.CutPrefix(lastLine(string(out), overlayUnavailable), overlayUnavailable); ok || (err != nil && len(out) == 0) {
		// A sandbox that refuses user namespaces or mounts (a container's
		// default seccomp profile) cannot make the overlay: said, not
		// counted as passing. TestLockMarkIsTheKernels still checks the
		// mark on the filesystem the tests run on.
		t.Skipf("no overlay can be mounted here: %v%s", err, why)
	}
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the check on overlayfs: %v\n%s", err, out)
	}
}

// overlayUnavailable begins the line the child prints when the overlay
// cannot be made (a namespace or mount refused), which is no failure of
// the mark.
const overlayUnavailable = "OVERLAY UNAVAILABLE: "

// lastLine is the last line of out that begins with prefix, or "".
func lastLine(out, prefix string) string {
	found := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			found = l
		}
	}
	return found
}

// unavailable reports, from the child, that the overlay could not be
// made, and ends the check there.
func unavailable(t *testing.T, err error) {
	t.Helper()
	os.Stdout.WriteString("\n" + overlayUnavailable + err.Error() + "\n")
	t.SkipNow()
}

// checkOverlayMark mounts an overlay (its lower layer a tmpfs, another
// filesystem than its upper's, as a container's image and volume are)
// under dir and checks lockMarkIn of a file flocked there.
func checkOverlayMark(t *testing.T, dir string) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		unavailable(t, err)
	}
	// The upper layer on a tmpfs of its own too: an overlay's upper layer
	// cannot lie on another overlay, which the temporary directory may be.
	if err := unix.Mount("none", dir, "tmpfs", 0, ""); err != nil {
		unavailable(t, err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH) //nolint:errcheck
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	lower, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "merged")
	if err := unix.Mount("none", lower, "tmpfs", 0, ""); err != nil {
		unavailable(t, err)
	}
	opts := "lowerdir=" + lower + ",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		unavailable(t, err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH) //nolint:errcheck
	_, st, kernels := flockedMark(t, merged)
	got, err := lockMarkIn(merged, st)
	if err != nil || got != kernels {
		t.Fatalf("lockMarkIn on overlayfs: %q, %v; the kernel's lock line names %q (st_dev %d:%d)",
			got, err, kernels, unix.Major(st.Dev), unix.Minor(st.Dev))
	}
}
