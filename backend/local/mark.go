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
// so (EINVAL, ENOSYS) has it linked as before, and a Cancel reading it in
// that moment still refuses it.
func createMark(path string, data []byte, perm os.FileMode) (created bool, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := fillMark(f, data, perm); err != nil {
		return false, err
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
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
	os.Remove(tmp) // where it was linked; else no longer there
	return true, atomicfile.SyncDir(dir)
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
