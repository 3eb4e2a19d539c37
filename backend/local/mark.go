package local

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/internal/atomicfile"
)

// createMark makes the mark at path with data, mode perm, once: created
// is false, and what is there left as it is, where path is there. Of two
// racing, the first is kept (cancelled, cancel.at, late.at).
//
// It is put in place by a rename that replaces nothing (renameat2,
// RENAME_NOREPLACE), so that it is never seen with two links: made as
// atomicfile.CreateFile makes a file (the temporary linked to path, then
// removed), it had two for a moment, and a Cancel that read it then
// refused it as not the server's record (ownRecord): the job's grace read
// as run out, and a late holder got none. A filesystem that cannot rename
// so (EINVAL, ENOSYS, EOPNOTSUPP, EPERM) has it linked as before, and a
// Cancel reading it in that moment still refuses it.
//
// The temporary is removed with the directory's mode set back first
// (lookAgain): removed once, a workload that kept the job's directory
// mode 0 in a loop left it there.
func createMark(path string, data []byte, perm os.FileMode) (created bool, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer removeTempIn(dir, tmp)
	if err := fillMark(f, data, perm); err != nil {
		return false, err
	}
	err = markRename(tmp, path)
	if renameUnsupported(err) {
		err = os.Link(tmp, path)
	} else if err != nil {
		err = &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	if errors.Is(err, os.ErrExist) {
		return false, atomicfile.SyncEntry(path)
	}
	if err != nil {
		return false, err
	}
	markPlaced(path)
	return true, atomicfile.SyncDir(dir)
}

// removeTempIn removes the temporary file path in the job's directory
// dir, tried again with the directory's mode set back where it is
// refused (lookAgain): removed once, a workload that kept the directory
// mode 0 in a loop left it there. One already gone is no error.
func removeTempIn(dir, path string) error {
	return lookAgain(dir, func() error {
		if err := os.Remove(path); !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
}

// markRename renames old to new where new is not there (a seam for
// the tests).
var markRename = func(old, new string) error {
	return unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
}

// renameUnsupported says whether err is markRename's where the
// filesystem (or a seccomp filter) does not offer RENAME_NOREPLACE:
// EINVAL or ENOSYS, and EOPNOTSUPP or EPERM, which some filesystems
// (FUSE, network ones) and filters answer.
func renameUnsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM)
}

// fillMark writes data to the new temporary file f, gives it perm, syncs
// it and closes it.
func fillMark(f *os.File, data []byte, perm os.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// testHookMarkPlaced, where set, is called with each mark's path once
// createMark has put it in place, before it returns.
var testHookMarkPlaced func(path string)

func markPlaced(path string) {
	if testHookMarkPlaced != nil {
		testHookMarkPlaced(path)
	}
}
