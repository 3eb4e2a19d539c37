package atomicfile

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The functions here work below an os.Root: every directory on the way to
// what they write, rename or remove is resolved inside the root, so that a
// link someone put on the way (a directory others may write, shared with
// a cluster's nodes) makes the call fail rather than reach outside. A link
// that stays inside the root is followed, as os.Root does.

// WriteFileIn is WriteFile for name below root: the temporary file is made,
// renamed over name and its directory synced through one handle on name's
// directory, opened once inside root (OpenDirIn), so that all three act on
// the same directory even when a path component is replaced meanwhile.
func WriteFileIn(root *os.Root, name string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	full := filepath.Join(root.Name(), dir)
	if base == "" || base == "." || base == ".." {
		return &fs.PathError{Op: "write", Path: filepath.Join(root.Name(), name), Err: syscall.EINVAL}
	}
	d, err := OpenDirIn(root, dir)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	f, tmp, err := createTempAt(fd, full, base)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			unix.Unlinkat(fd, tmp, 0)
		}
	}()
	if err := fill(f, data, perm); err != nil {
		return err
	}
	if err := unix.Renameat(fd, tmp, fd, base); err != nil {
		return &os.LinkError{Op: "renameat", Old: filepath.Join(full, tmp), New: filepath.Join(full, base), Err: err}
	}
	ok = true
	return SyncOpenDir(d)
}

// OpenDirIn opens directory name below root to read. os.Root opens the
// last directory of a path (Open, OpenRoot, and for a path ending in a
// slash after it looked at it) without O_DIRECTORY: a FIFO a workload put
// in the directory's place (before the open, or between the look and the
// open) was opened to read, which waits for a writer, and the server's
// write, lock or sync waited with it, for good. With O_DIRECTORY
// anything but a directory fails at once (ENOTDIR), naming name; a link
// that stays inside root is followed still, as os.Root does.
func OpenDirIn(root *os.Root, name string) (*os.File, error) {
	return root.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY, 0)
}

// OpenRootIn is root.OpenRoot(name) for a directory that a workload may
// replace: os.Root opens the last component of a path without
// O_DIRECTORY, and a FIFO put in the directory's place was opened to
// read, waiting for a writer, for good. The path is given ending in
// "/.": os.Root opens every component before the last as a directory
// (O_DIRECTORY, a link inside root followed), and the last, ".", is that
// directory itself, never a FIFO. Anything but a directory at name fails
// at once with ENOTDIR.
func OpenRootIn(root *os.Root, name string) (*os.Root, error) {
	return root.OpenRoot(name + string(filepath.Separator) + ".")
}

// createTempAt makes a temporary file for base in the directory open at
// fd (dir, to name it), named as os.CreateTemp names WriteFile's
// (TempTarget reads it back), created exclusively and without following
// a link, so that nothing already there (a link, a FIFO) is opened.
func createTempAt(fd int, dir, base string) (*os.File, string, error) {
	for range 100 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		tmp := "." + base + ".tmp-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[:])), 10)
		tfd, err := unix.Openat(fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return nil, "", &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, tmp), Err: err}
		}
		return os.NewFile(uintptr(tfd), filepath.Join(dir, tmp)), tmp, nil
	}
	return nil, "", &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, base), Err: fs.ErrExist}
}

// MkdirAllIn is MkdirAll for dir below root: each missing directory is
// made inside root, and its parent synced.
func MkdirAllIn(root *os.Root, dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	if dir == "." {
		return nil
	}
	fi, err := root.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return &fs.PathError{Op: "mkdir", Path: filepath.Join(root.Name(), dir), Err: syscall.ENOTDIR}
	case err == nil:
		// Its maker may have been killed before it synced the parent:
		// synced here, once per process (SyncEntry).
		return syncEntry(filepath.Join(root.Name(), dir), fi, rootPlace(root, dir))
	case !errors.Is(err, fs.ErrNotExist):
		// A link leading out of root, or a directory on the way that
		// cannot be read: the mkdir would fail too, with "file exists"
		// for the link, which names no cause.
		return err
	}
	parent := filepath.Dir(dir)
	if err := MkdirAllIn(root, parent, perm); err != nil {
		return err
	}
	mkErr := root.Mkdir(dir, perm)
	// Stat before the sync, as MkdirAll does.
	fi, err = root.Stat(dir)
	if err != nil || !fi.IsDir() {
		// Made by another process just now, perhaps not yet synced:
		// synced here too; anything else fails as the mkdir did.
		if mkErr != nil {
			return mkErr
		}
		if err != nil {
			return err
		}
		return &fs.PathError{Op: "mkdir", Path: filepath.Join(root.Name(), dir), Err: syscall.ENOTDIR}
	}
	if err := syncRootDir(root, parent, filepath.Join(root.Name(), parent)); err != nil {
		return err
	}
	remember(filepath.Join(root.Name(), dir), fi)
	return nil
}

// rootPlace is the place of name below root, reached inside root.
func rootPlace(root *os.Root, name string) place {
	parent := filepath.Dir(name)
	return place{
		openDir:    func() (*os.File, error) { return OpenDirIn(root, parent) },
		statDir:    func() (fs.FileInfo, error) { return root.Stat(parent) },
		lstatEntry: func() (fs.FileInfo, error) { return root.Lstat(name) },
		openEntry: func(isDir bool) (*os.File, error) {
			if !isDir {
				// MkdirAllIn finds directories only.
				return nil, &fs.PathError{Op: "open", Path: filepath.Join(root.Name(), name), Err: syscall.ENOTDIR}
			}
			return OpenDirIn(root, name)
		},
	}
}

// SyncDirIn is SyncDir for directory dir below root, opened inside root:
// after a rename or a removal there, so that a crash cannot bring back
// the entry it took away.
func SyncDirIn(root *os.Root, dir string) error {
	return syncRootDir(root, dir, filepath.Join(root.Name(), dir))
}

// syncRootDir fsyncs directory name of root; full is its path for SyncHook.
// The hook is called before the open, not by SyncOpenDir after it, so
// that a test may swap the directory in the window the open must survive.
func syncRootDir(root *os.Root, name, full string) error {
	if SyncHook != nil {
		SyncHook(filepath.Clean(full))
	}
	d, err := OpenDirIn(root, name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveStaleTempsIn is RemoveStaleTemps for dir below root: the directory
// is opened inside root (OpenDirIn), the filesystem's clock probed in it
// and its entries removed through that handle.
func RemoveStaleTempsIn(root *os.Root, dir string, target func(name string) bool) int {
	d, err := OpenDirIn(root, dir)
	if err != nil {
		return 0
	}
	defer d.Close()
	fd := int(d.Fd())
	// unlinkat(2) without AT_REMOVEDIR removes the entry itself, never a
	// directory.
	return removeTempsOf(d, func(name string) error { return unix.Unlinkat(fd, name, 0) }, target, StaleTempAge, filesClock(fd, filepath.Join(root.Name(), dir)))
}

// clockProbe is the name whose temporary file probeNowAt makes.
const clockProbe = "clock"

// probeNowAt is the time now on the clock of the filesystem that holds
// the directory open at fd (dir, to name it): the change time it gives a
// file made there now, which is then removed. That clock is one for
// every machine sharing the directory (the file server's, for a shared
// one; the kernel's, on one machine), whatever each one's own says, and
// it is the one that stamps the times of the files made there. The
// change time is the filesystem's alone: no one can set it (utimes sets
// the others, and the change time to now).
func probeNowAt(fd int, dir string) (time.Time, error) {
	f, tmp, err := createTempAt(fd, dir, clockProbe)
	if err != nil {
		return time.Time{}, err
	}
	// One left (the caller killed before this) is removed once stale,
	// by the sweeps (removeTempsOf).
	defer unix.Unlinkat(fd, tmp, 0) //nolint:errcheck // see above
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return time.Time{}, &fs.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return time.Unix(st.Ctim.Unix()), nil
}

// FileNowIn is the time now on the clock of the filesystem that holds
// directory dir below root (probeNowAt), the probe made in dir, opened
// inside root.
func FileNowIn(root *os.Root, dir string) (time.Time, error) {
	d, err := OpenDirIn(root, dir)
	if err != nil {
		return time.Time{}, err
	}
	defer d.Close()
	return probeNowAt(int(d.Fd()), filepath.Join(root.Name(), dir))
}

// SubDirsIn is SubDirs for dir below root.
func SubDirsIn(root *os.Root, dir string) []string {
	f, err := OpenDirIn(root, dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	return subDirsOf(f)
}
