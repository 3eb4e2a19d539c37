//go:build !linux

package main

// makeUndumpable is Linux's prctl(PR_SET_DUMPABLE, 0) elsewhere: there it
// is not done, and serve says so (serveUndumpable).
func makeUndumpable() error { return errUndumpableUnsupported }

// dumpableFromExec has nothing to say where there is no flag: serve has
// warned that it stays dumpable.
func dumpableFromExec() (bool, error) { return false, nil }

// checkNotTraced is Linux's look through /proc/self/task for a tracer;
// elsewhere serve does not look.
func checkNotTraced() error { return nil }
