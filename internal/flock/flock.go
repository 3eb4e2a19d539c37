// Package flock takes advisory file locks that the kernel drops when their
// holder dies, so a killed controller never leaves a lock behind.
package flock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive lock on path (creating the file), waiting until
// ctx is done. The returned function releases it.
//
// The lock file must be a regular file. Lock files live in directories
// others may write (a state directory's anchor directory, a site's job
// directories, the temporary directory): a link in the lock's place made
// the opener create, or lock, a file wherever the link pointed; a FIFO or a
// device is no lock file, and opening one must not wait on a writer.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	return lock(ctx, path, false)
}

// LockOwn is Lock for a lock file that is this process's user's own
// record: besides a regular file, it must be owned by the process's
// effective user and have a single link. A file of another user, or a
// hard link to some other file, in its place is refused, naming the file
// and the problem: a job's lock file in a directory a workload of the
// same user may change held another file's lock, or one a stranger
// holds, as the job's.
func LockOwn(ctx context.Context, path string) (unlock func(), err error) {
	return lock(ctx, path, true)
}

// LockIn is Lock for name below root: the lock file is created, opened and
// looked at again inside root, so that a link put in place of a
// directory on its way (a job's directory, shared with a cluster's nodes)
// fails the lock rather than create a file wherever it points. A link in
// the lock file's own place is refused, as Lock refuses one.
func LockIn(ctx context.Context, root *os.Root, name string) (unlock func(), err error) {
	full := filepath.Join(root.Name(), name)
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	openIn := func() (*os.File, error) {
		f, err := openBeneath(root, dir, base)
		if err != nil && !errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("lock file %s: %w", full, err)
		}
		return checkOpened(f, err, full, false)
	}
	lstatIn := func() (os.FileInfo, error) {
		fi, err := root.Lstat(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("lock file %s: %w", full, err)
		}
		return fi, err
	}
	return lockWith(ctx, openIn, lstatIn)
}

// openBeneath opens base, a file of directory dir below root, creating
// it. os.Root follows a link in base's place that stays inside root,
// O_NOFOLLOW or not: it created the file a dangling one named, and the
// lock's check after (lstat, which looks at the link itself) never found
// the file it had locked, so that LockIn opened and let go without end.
// The directory is opened inside root, and base in it with openat(2) and
// O_NOFOLLOW, which fails with ELOOP on any link. The directory is opened
// with O_DIRECTORY: os.Root opens it (after a look, lstat) without, and a
// FIFO a workload put in its place in between was opened to read, which
// waits for a writer, and the lock, and all that waited on it, for good.
func openBeneath(root *os.Root, dir, base string) (*os.File, error) {
	d, err := root.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd, err := unix.Openat(int(d.Fd()), base, unix.O_CREAT|unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &fs.PathError{Op: "openat", Path: filepath.Join(dir, base), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root.Name(), dir, base)), nil
}

func lock(ctx context.Context, path string, own bool) (unlock func(), err error) {
	return lockWith(ctx, func() (*os.File, error) { return open(path, own) }, func() (os.FileInfo, error) { return os.Lstat(path) })
}

// lockWith takes the lock on the file open opens, again until lstat
// names the file locked.
func lockWith(ctx context.Context, open func() (*os.File, error), lstat func() (os.FileInfo, error)) (unlock func(), err error) {
	for {
		f, err := open()
		if err != nil {
			return nil, err
		}
		if testHookOpened != nil {
			testHookOpened()
		}
		if err := wait(ctx, f); err != nil {
			f.Close()
			return nil, err
		}
		// The lock is on the file opened, which may no longer be the one
		// at path: removed (with the directory it was in) while this
		// waited, a new one made there and locked by another. Holding the
		// old one would exclude no one, so it is let go and path opened
		// again.
		same, err := still(f, lstat)
		if err != nil {
			f.Close()
			return nil, err
		}
		if same {
			return func() { f.Close() }, nil
		}
		f.Close()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// testHookOpened, when set, runs between a lock file's open and its lock.
var testHookOpened func()

func open(path string, own bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	return checkOpened(f, err, path, own)
}

// checkOpened is the lock file f that the open of path gave (err its
// error), once it is a regular file (and, for own, this user's own).
func checkOpened(f *os.File, err error, path string, own bool) (*os.File, error) {
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("lock file %s is a symbolic link; want a regular file", path)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("lock file %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	if err == nil && own {
		err = ownFile(fi, path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ownFile says why fi, of the lock file opened at path, is not a lock
// file of this process's user with a single link. It reads what the
// open's own stat found, not the file again.
func ownFile(fi os.FileInfo, path string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("lock file %s: its owner and links cannot be told", path)
	}
	if st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("lock file %s is owned by uid %d, not by this process's (%d)", path, st.Uid, os.Geteuid())
	}
	if st.Nlink != 1 {
		return fmt.Errorf("lock file %s has %d links, want 1", path, st.Nlink)
	}
	return nil
}

// wait takes the lock on f, waiting until ctx is done.
func wait(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// still says whether the lock file's path (lstat) names the file f has
// open.
func still(f *os.File, lstat func() (os.FileInfo, error)) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := lstat()
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}
