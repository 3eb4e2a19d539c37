package local

import (
	"os"
	"time"
)

// SetMarkRename has each mark's rename into place (cancelled, cancel.at,
// late.at) done by fn, until undo.
func SetMarkRename(fn func(old, new string) error) (undo func()) {
	old := markRename
	markRename = fn
	return func() { markRename = old }
}

// CreateMark makes the mark at path with data, mode perm, once.
func CreateMark(path string, data []byte, perm os.FileMode) (created bool, err error) {
	return createMark(path, data, perm)
}

// SetCancelMarkUndurable has every making of a job's "cancelled" mark put
// it in place and then fail with err, as where its directory's sync
// fails, until undo.
func SetCancelMarkUndurable(err error) (undo func()) {
	makeCancelMark = func(path string, data []byte) (bool, error) {
		created, merr := createCancelMark(path, data)
		if merr != nil {
			return created, merr
		}
		return created, err
	}
	return func() { makeCancelMark = createCancelMark }
}

// SetCancelLockHeld has Cancel's looks at the run lock answered by fn,
// which is given the look it replaces, until undo.
func SetCancelLockHeld(fn func(dir string, held func(string) (bool, error)) (bool, error)) (undo func()) {
	old := cancelLockHeld
	cancelLockHeld = func(dir string) (bool, error) { return fn(dir, old) }
	return func() { cancelLockHeld = old }
}

// KeepCancelAsked has l keep at as the time of the first Cancel of the
// job handle, as where its mark could not be made (cancelAsked).
func KeepCancelAsked(l *Local, handle string, at time.Time) {
	l.cancelAsked.LoadOrStore(handle, at)
}

// LearnLockPin learns the kernel's name of the job's command lock in dir
// as a Cancel's scan does, and hands back the inode it was learnt for,
// the descriptor that holds that inode, and the end of that Cancel.
func LearnLockPin(dir string) (ino uint64, pin *os.File, done func(), err error) {
	var m lockMark
	_, err = m.holders(dir, time.Now().Add(time.Minute))
	return m.ino, m.pin, m.close, err
}

// RenameNoReplace is renameNoReplace, the exit code's rename into place.
func RenameNoReplace(from, to string) error { return renameNoReplace(from, to) }
