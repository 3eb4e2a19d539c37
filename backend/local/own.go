package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	fd, st, err := pinOwn(path)
	if err != nil {
		return fmt.Errorf("restore its mode: %w", err)
	}
	defer unix.Close(fd)
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
		// Set back and opened again through a descriptor of the file
		// looked at: a workload that changes its mode again in between
		// is met restoreTries times before the open fails.
		fd, _, perr := pinOwn(path)
		if perr != nil {
			return nil, fmt.Errorf("%w (%v)", err, perr)
		}
		f, err = reopenOwn(path, fd, flag, perm)
		unix.Close(fd)
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

// readOwn reads the job's record at path, of at most max bytes, as the
// server's own: never through a link, only a regular file of the server's
// user with a single link (anything else, a directory, a FIFO, a link, is
// refused naming the file), its size looked at before a byte is read, and,
// where its mode keeps the server out, with its mode set back to perm on
// the very file it looked at (restoreMode). A missing file is
// os.ErrNotExist.
func readOwn(path string, max int64, perm os.FileMode) ([]byte, error) {
	f, err := openOwnRead(path, max, perm)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than the %d bytes it may hold", path, max)
	}
	return data, nil
}

// openOwnRead opens the job's record at path to read, as readOwn reads it.
func openOwnRead(path string, max int64, perm os.FileMode) (*os.File, error) {
	fd, st, err := pinOwn(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if st.Size > max {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d it may hold", path, st.Size, max)
	}
	return reopenOwn(path, fd, os.O_RDONLY, perm)
}

// pinOwn opens path O_PATH and O_NOFOLLOW, the file it names from then on
// whatever is put at path, and checks that it is one of the server's
// records: a regular file of this process's user with a single link.
func pinOwn(path string) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, st, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := ownRecord(path, &st); err != nil {
		unix.Close(fd)
		return -1, st, err
	}
	return fd, st, nil
}

// ownRecord says why st, path's, is not one of the server's records.
func ownRecord(path string, st *unix.Stat_t) error {
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%s is a symbolic link; want a regular file", path)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%s is not a regular file (mode %#o)", path, st.Mode)
	case st.Uid != uint32(os.Geteuid()):
		return fmt.Errorf("%s is owned by uid %d, not by the server's (%d)", path, st.Uid, os.Geteuid())
	case st.Nlink != 1:
		return fmt.Errorf("%s has %d links, want 1", path, st.Nlink)
	}
	return nil
}

// restoreTries bounds how many times reopenOwn sets a record's mode back
// and opens it again.
const restoreTries = 3

// reopenOwn opens the file pinned by fd (pinOwn) with flag, through its
// descriptor's /proc entry, so that what is put at path since is never
// opened. Where its mode keeps the server out, it sets it back to perm
// through the same entry and opens it again, restoreTries times at most.
// The descriptor handed back is blocking.
func reopenOwn(path string, fd int, flag int, perm os.FileMode) (*os.File, error) {
	proc := "/proc/self/fd/" + strconv.Itoa(fd)
	// The /proc entry is a link to the file, which O_NOFOLLOW would refuse.
	flag &^= os.O_CREATE | os.O_EXCL | os.O_TRUNC | unix.O_NOFOLLOW
	flag |= unix.O_NONBLOCK | unix.O_CLOEXEC
	var err error
	for try := 0; try <= restoreTries; try++ {
		if try > 0 {
			if cerr := unix.Chmod(proc, uint32(perm.Perm())); cerr != nil {
				return nil, fmt.Errorf("%s: restore its mode %#o: %w", path, perm.Perm(), cerr)
			}
			restored(path)
		}
		var nfd int
		nfd, err = unix.Open(proc, flag, 0)
		if err == nil {
			f := os.NewFile(uintptr(nfd), path)
			if err := unix.SetNonblock(nfd, false); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return f, nil
		}
		if !errors.Is(err, unix.EACCES) {
			break
		}
	}
	if errors.Is(err, unix.EACCES) {
		return nil, fmt.Errorf("%s: its mode keeps the server out, set back %d times and changed again each time: %w", path, restoreTries, err)
	}
	return nil, &os.PathError{Op: "open", Path: path, Err: err}
}

// testHookRestored, where set, is called each time the server has set a
// record's mode back, before it opens it again.
var testHookRestored func(path string)

func restored(path string) {
	if testHookRestored != nil {
		testHookRestored(path)
	}
}

// maxRemoveDepth bounds how deep removeTree walks.
const maxRemoveDepth = 1024

// removeTree removes path and all below it, as os.RemoveAll does, but
// sets back the mode of each directory of the server's user that keeps
// it from listing or emptying it: a workload of the server's user (the
// landlock sandbox) that made a directory of its working directory
// mode 0, or 0500, kept Clean from removing it. It walks with
// descriptors, from the parent of path down, never following a link, and
// goes maxRemoveDepth directories deep at most.
func removeTree(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	parent, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	defer unix.Close(parent)
	return removeAt(parent, filepath.Base(path), path, 0)
}

// removeAt removes name in the directory parent (path, to name it in an
// error) and, where it is a directory, all below it.
func removeAt(parent int, name, path string, depth int) error {
	err := unix.Unlinkat(parent, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return &os.PathError{Op: "remove", Path: path, Err: err}
	}
	if depth >= maxRemoveDepth {
		return fmt.Errorf("%s: more than %d directories deep; left as it is", path, maxRemoveDepth)
	}
	for pass := 0; pass < 3; pass++ {
		if err := emptyDir(parent, name, path, depth); err != nil {
			return err
		}
		err = unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.ENOTEMPTY && err != unix.EEXIST {
			break
		}
	}
	return &os.PathError{Op: "remove", Path: path, Err: err}
}

// emptyDir removes what the directory name in parent holds.
func emptyDir(parent int, name, path string, depth int) error {
	fd, err := openDirOwn(parent, name, path)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), path)
	defer d.Close()
	for {
		names, err := d.Readdirnames(256)
		for _, n := range names {
			if rerr := removeAt(fd, n, filepath.Join(path, n), depth+1); rerr != nil {
				return rerr
			}
		}
		if err == io.EOF || (err == nil && len(names) == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// openDirOwn opens the directory name in parent to list and empty it,
// never through a link. One of the server's user whose mode keeps the
// server from doing either has its mode set back to 0700 through a
// descriptor of its own (restoreMode's way).
func openDirOwn(parent int, name, path string) (int, error) {
	const flag = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(parent, name, flag, 0)
	if err == unix.EACCES {
		pfd, perr := unix.Openat(parent, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if perr != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: perr}
		}
		defer unix.Close(pfd)
		var st unix.Stat_t
		if perr := unix.Fstat(pfd, &st); perr != nil {
			return -1, &os.PathError{Op: "stat", Path: path, Err: perr}
		}
		if st.Uid != uint32(os.Geteuid()) {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		proc := "/proc/self/fd/" + strconv.Itoa(pfd)
		if cerr := unix.Chmod(proc, 0o700); cerr != nil {
			return -1, fmt.Errorf("%s: restore its mode: %w", path, cerr)
		}
		fd, err = unix.Open(proc, flag&^unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Uid == uint32(os.Geteuid()) && st.Mode&0o700 != 0o700 {
		if err := unix.Fchmod(fd, 0o700); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: restore its mode: %w", path, err)
		}
	}
	return fd, nil
}

// ownJobDir checks that the job's directory dir, in the backend's jobs
// directory, is the server's own, and sets back a mode a workload changed.
// A landlock workload runs as the server's user and may chmod any file it
// can name (Landlock does not cover metadata): a job's directory made
// mode 0 (or 0100, or 0500) made Status answer that the job was not
// there, kept Cancel from marking it cancelled and had Clean leave its
// working directory, saying nothing; made 0755 (its records then 0644),
// it let every user of the machine read the job's environment. The jobs
// directory and dir are each opened O_PATH|O_NOFOLLOW from their parent,
// never through a link, and must be directories of this process's user;
// one whose mode is not 0700 has it set back to 0700 through that
// descriptor. A link or anything else in their place is refused with an
// error naming it; a missing one is os.ErrNotExist.
func ownJobDir(dir string) error {
	jobs := filepath.Dir(dir)
	root, err := unix.Open(filepath.Dir(jobs), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Dir(jobs), Err: err}
	}
	defer unix.Close(root)
	// The job's directory is opened from the jobs directory's descriptor
	// checked here, not by its path again: one open fewer per Status, and
	// no second look up of a path that may have changed since.
	jfd, err := ownDirAt(root, filepath.Base(jobs), jobs)
	if err != nil {
		return err
	}
	defer unix.Close(jfd)
	fd, err := ownDirAt(jfd, filepath.Base(dir), dir)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// ownDirAt checks the directory name in the directory parent (path, to
// name it), as ownJobDir says, and hands back its O_PATH descriptor.
func ownDirAt(parent int, name, path string) (int, error) {
	fd, err := unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := checkDirOwn(fd, path); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// checkDirOwn checks the directory fd (path, to name it) and sets back its
// mode, as ownJobDir says.
func checkDirOwn(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%s is a symbolic link; want the server's own directory", path)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s is not a directory (mode %#o)", path, st.Mode)
	case st.Uid != uint32(os.Geteuid()):
		return fmt.Errorf("%s is owned by uid %d, not by the server's (%d)", path, st.Uid, os.Geteuid())
	case st.Mode&0o7777 == 0o700:
		return nil
	}
	// chmod through the descriptor's /proc entry changes the directory
	// opened above, whatever is at path by now.
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), 0o700); err != nil {
		return fmt.Errorf("%s: restore its mode 0700 (it is %#o): %w", path, st.Mode&0o7777, err)
	}
	restored(path)
	return nil
}
