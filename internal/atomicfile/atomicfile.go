// Package atomicfile writes files so that readers see the old content or the
// new one, never a part, even when the writer is killed mid-write.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// WriteFile writes data to a temporary file beside path, fsyncs it, renames
// it over path and fsyncs the directory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

// CreateFile writes data to path as WriteFile does, but only when path does
// not exist yet; created is false, and path untouched, when it does. Of
// several processes creating one file at once (replicas sharing a state
// directory creating a key on first start) exactly one creates it, and the
// others must read what it wrote.
func CreateFile(path string, data []byte, perm os.FileMode) (created bool, err error) {
	err = write(path, data, perm, true)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return err == nil, err
}

func write(path string, data []byte, perm os.FileMode, exclusive bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if exclusive {
		// link fails when path exists, where rename would replace it.
		if err := os.Link(tmp, path); err != nil {
			return err
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that renames and creations in it are durable.
func SyncDir(dir string) error {
	if SyncHook != nil {
		SyncHook(dir)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SyncHook, when set, is called with each directory SyncDir is about to
// sync. Tests set it to see that what a package creates is made durable;
// it is nil otherwise.
var SyncHook func(dir string)

// MkdirAll creates dir (perm, before the umask) and any missing parents,
// as os.MkdirAll does, and fsyncs the parent of each directory it
// creates. Until its parent is synced a new directory's entry is in
// memory only: a power loss can take it, with every file written inside
// since, synced or not, while what was written elsewhere meanwhile (a
// database row, data sealed with a key kept there) survives. A directory
// already there is not synced again.
func MkdirAll(dir string, perm os.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		// Another process may have made it just now, and not yet synced
		// it: synced here too.
		if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
			return err
		}
	}
	return SyncDir(parent)
}

// RemoveTemps removes the temporary files that writers of path killed
// before their rename left beside it (WriteFile's, CreateFile's), and
// reports how many it removed. A temporary file of a writer still at work
// is removed as well, failing that write: the caller must hold a lock that
// every writer of path holds while it writes. Removing is best effort:
// what cannot be removed stays, harmless to readers of path, which never
// read the temporary names.
func RemoveTemps(path string) int {
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".tmp-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || len(e.Name()) <= len(prefix) || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n
}
