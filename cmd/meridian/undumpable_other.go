//go:build !linux

package main

// makeUndumpable is Linux's prctl(PR_SET_DUMPABLE, 0) elsewhere: there it
// is not done, and serve says so (serveUndumpable).
func makeUndumpable() error { return errUndumpableUnsupported }
