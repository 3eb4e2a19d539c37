package local

import "time"

// SetTestHookRestored has fn called each time the server has set a
// record's mode back, before it opens it again, until the test ends.
func SetTestHookRestored(fn func(path string)) (undo func()) {
	testHookRestored = fn
	return func() { testHookRestored = nil }
}

// SetClock has l count the bound on a job read as starting by now.
func SetClock(l *Local, now func() time.Time) { l.now = now }

// RunLockHeld is runLockHeld: whether a wrapper holds the job's run lock.
func RunLockHeld(dir string) (bool, error) { return runLockHeld(dir) }
