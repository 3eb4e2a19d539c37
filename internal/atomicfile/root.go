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
)

// The functions here work below an os.Root: every directory on the way to
// what they write, rename or remove is resolved inside the root, so that a
// link someone put on the way (a directory others may write, shared with
// a cluster's nodes) makes the call fail rather than reach outside. A link
// that stays inside the root is followed, as os.Root does.

// WriteFileIn is WriteFile for name below root: the temporary file is made,
// renamed over name and its directory synced through one handle on name's
// directory, opened once inside root, so that all three act on the same
// directory even when a path component is replaced meanwhile.
func WriteFileIn(root *os.Root, name string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	d, err := root.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	f, tmp, err := createTempIn(d, base)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			d.Remove(tmp)
		}
	}()
	if err := fill(f, data, perm); err != nil {
		return err
	}
	if err := d.Rename(tmp, base); err != nil {
		return err
	}
	ok = true
	return syncRootDir(d, ".", filepath.Join(root.Name(), dir))
}

// createTempIn makes a temporary file for base in d, named as
// os.CreateTemp names WriteFile's (TempTarget reads it back), created
// exclusively so that nothing already there (a link among them) is opened.
func createTempIn(d *os.Root, base string) (*os.File, string, error) {
	for range 100 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		tmp := "." + base + ".tmp-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[:])), 10)
		f, err := d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, tmp, err
	}
	return nil, "", &fs.PathError{Op: "createtemp", Path: base, Err: fs.ErrExist}
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
		return nil
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
	if err := root.Mkdir(dir, perm); err != nil {
		// Made by another process just now, perhaps not yet synced.
		if fi, serr := root.Stat(dir); serr != nil || !fi.IsDir() {
			return err
		}
	}
	return syncRootDir(root, parent, filepath.Join(root.Name(), parent))
}

// SyncDirIn is SyncDir for directory dir below root, opened inside root:
// after a rename or a removal there, so that a crash cannot bring back
// the entry it took away.
func SyncDirIn(root *os.Root, dir string) error {
	return syncRootDir(root, dir, filepath.Join(root.Name(), dir))
}

// syncRootDir fsyncs directory name of root; full is its path for SyncHook.
func syncRootDir(root *os.Root, name, full string) error {
	if SyncHook != nil {
		SyncHook(filepath.Clean(full))
	}
	d, err := root.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveStaleTempsIn is RemoveStaleTemps for dir below root: the directory
// is opened inside root and its entries removed through that handle.
func RemoveStaleTempsIn(root *os.Root, dir string, target func(name string) bool) int {
	d, err := root.OpenRoot(dir)
	if err != nil {
		return 0
	}
	defer d.Close()
	f, err := d.Open(".")
	if err != nil {
		return 0
	}
	defer f.Close()
	return removeTempsOf(f, func(name string) error { return d.Remove(name) }, target, StaleTempAge)
}

// SubDirsIn is SubDirs for dir below root.
func SubDirsIn(root *os.Root, dir string) []string {
	f, err := root.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	return subDirsOf(f)
}
