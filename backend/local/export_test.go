package local

// SetTestHookRestored has fn called each time the server has set a
// record's mode back, before it opens it again, until the test ends.
func SetTestHookRestored(fn func(path string)) (undo func()) {
	testHookRestored = fn
	return func() { testHookRestored = nil }
}
