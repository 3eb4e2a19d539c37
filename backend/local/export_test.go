package local

import (
	"os"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
)

// SetTestHookRestored has fn called each time the server has set a
// record's mode back, before it opens it again, until undo.
func SetTestHookRestored(fn func(path string)) (undo func()) {
	testHookRestored = fn
	return func() { testHookRestored = nil }
}

// SetClock has l count the bound on a job read as starting by now, where
// the job's record does not name its launch on the filesystem's clock.
func SetClock(l *Local, now func() time.Time) { l.now = now }

// CommandRuns is commandRuns: whether the job's command lock is held.
func CommandRuns(dir string) (bool, error) { return commandRuns(dir) }

// CmdLockHolders is cmdLockHolders, with no bound on its time.
func CmdLockHolders(dir string) map[int]uint64 {
	held, _ := cmdLockHolders(dir, time.Now().Add(time.Hour))
	return held
}

// RunLockHeld is runLockHeld: whether a wrapper holds the job's run lock.
func RunLockHeld(dir string) (bool, error) { return runLockHeld(dir) }

// SetFileClock has l read the state directory's filesystem clock (the one
// a job whose lock and record cannot be read is bounded by) off now.
func SetFileClock(l *Local, now func() time.Time) {
	l.fileClock = func() (time.Time, error) { return now(), nil }
}

// SetFileClockFailing has every read of l's state directory's filesystem
// clock fail with err.
func SetFileClockFailing(l *Local, err error) {
	l.fileClock = func() (time.Time, error) { return time.Time{}, err }
}

// FileNow is the time now on the state directory's filesystem clock.
func FileNow(l *Local) (time.Time, error) { return l.fileNow() }

// SetStartFileClock has New read the state directory's filesystem clock
// (the one it tells a temporary file's age by) off now, until undo.
func SetStartFileClock(now func() time.Time) (undo func()) {
	startFileNow = func(string) (time.Time, error) { return now(), nil }
	return func() { startFileNow = fileNowIn }
}

// SetStartFileClockFailing has New's read of the state directory's
// filesystem clock fail with err, until undo.
func SetStartFileClockFailing(err error) (undo func()) {
	startFileNow = func(string) (time.Time, error) { return time.Time{}, err }
	return func() { startFileNow = fileNowIn }
}

// SetClockProbeFailing has the probe file the state directory's
// filesystem clock is read by fail to be made, with err, until undo.
func SetClockProbeFailing(err error) (undo func()) {
	probeFileNow = func(*os.Root, string) (time.Time, error) { return time.Time{}, err }
	return func() { probeFileNow = atomicfile.FileNowIn }
}

// SetCancelAskedFailing has every keeping of an ended job's first Cancel
// (cancel.at) fail with err, until undo.
func SetCancelAskedFailing(err error) (undo func()) {
	keepCancelAsked = func(string, []byte) error { return err }
	return func() { keepCancelAsked = createCancelAsked }
}

// SetCancelMarkFailing has every making of a job's "cancelled" mark fail
// with err, until undo.
func SetCancelMarkFailing(err error) (undo func()) {
	makeCancelMark = func(string, []byte) (bool, error) { return false, err }
	return func() { makeCancelMark = createCancelMark }
}

// SetTestHookMarkPlaced has fn called with each mark's path (cancelled,
// cancel.at, late.at) once it is in place, before it is made durable,
// until undo.
func SetTestHookMarkPlaced(fn func(path string)) (undo func()) {
	testHookMarkPlaced = fn
	return func() { testHookMarkPlaced = nil }
}

// CancelKillAt is when Cancel of the job handle, in dir, sends SIGKILL.
func CancelKillAt(l *Local, handle, dir string) time.Time { return l.cancelKillAt(handle, dir) }

// LateAsked is the job's first late sighting, made at now where none is
// kept: its time, or why it has none.
func LateAsked(dir string, now time.Time) (time.Time, error) {
	late := lateAsked(dir, now)
	return late.at, late.err
}

// CancelAskedKept says whether l keeps in memory the time of the first
// Cancel of the job handle (cancelAsked).
func CancelAskedKept(l *Local, handle string) bool {
	_, ok := l.cancelAsked.Load(handle)
	return ok
}
