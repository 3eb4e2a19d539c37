package local

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// A landlock workload runs as the server's user and may chmod any job's
// files (Landlock does not cover metadata), though it can neither read,
// write, make nor rename them. The job's records are the server's own:
// one the server cannot open for want of permission has had its mode
// changed under it, and the server sets it back (restoreMode) rather than
// fail: a run.lock made mode 0 made every later Submit of the attempt
// (one lost and launched again) fail at its launch.

// restoreMode sets the mode of the job's record at path back to perm. It
// never follows a link: the file is opened O_PATH and O_NOFOLLOW, and
// changed through that descriptor only if it is a regular file with a
// single link owned by this process's user (a record the server wrote);
// anything else is refused with an error naming the file and the problem.
func restoreMode(path string, perm os.FileMode) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: restore its mode: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s: restore its mode: %w", path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%s is a symbolic link; want a regular file", path)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%s is not a regular file (mode %#o); its mode is left as it is", path, st.Mode)
	case st.Uid != uint32(os.Geteuid()):
		return fmt.Errorf("%s is owned by uid %d, not by the server's (%d); its mode %#o is left as it is", path, st.Uid, os.Geteuid(), st.Mode&0o7777)
	case st.Nlink != 1:
		return fmt.Errorf("%s has %d links, want 1; its mode %#o is left as it is", path, st.Nlink, st.Mode&0o7777)
	}
	// chmod through the descriptor's /proc entry changes the inode opened
	// above, whatever is at path by now.
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), uint32(perm.Perm())); err != nil {
		return fmt.Errorf("%s: restore its mode %#o (it is %#o): %w", path, perm.Perm(), st.Mode&0o7777, err)
	}
	return nil
}

// openOwn opens the job's record at path as os.OpenFile does with flag
// and perm, but never through a link, only a regular file, and, where the
// file is there but its mode keeps the server out, with its mode set back
// to perm (restoreMode). The descriptor is blocking.
func openOwn(path string, flag int, perm os.FileMode) (*os.File, error) {
	flag |= syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	f, err := os.OpenFile(path, flag, perm)
	if errors.Is(err, os.ErrPermission) {
		if rerr := restoreMode(path, perm); rerr != nil {
			return nil, fmt.Errorf("%w (%v)", err, rerr)
		}
		f, err = os.OpenFile(path, flag, perm)
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link; want a regular file", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if err == nil {
		err = syscall.SetNonblock(int(f.Fd()), false)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
