package local_test

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/backend/local"
)

// deafToTERM is an escaped holder's script: it ignores SIGTERM and holds
// the command lock for a minute.
const deafToTERM = `trap "" TERM; exec sleep 60`

// newLocalGrace is a backend on a fresh state directory whose Cancel gives
// a job's processes grace to end and waits at most treeWait. treeWait
// also bounds a Cancel's scan of /proc: under a heavy load (20 on two
// cores) 300 ms may run out before the scan reaches a recent holder, so
// the tests that keep retries shorter than the grace use 1 s and 3 s.
func newLocalGrace(t *testing.T, grace, treeWait time.Duration) *local.Local {
	t.Helper()
	b := newLocal(t, t.TempDir())
	b.CancelGrace = grace
	b.TreeWait = treeWait
	return b
}

// endedWithDeafHolder submits a job named run whose command exits 0,
// leaving an escaped holder of the command lock deaf to SIGTERM, and waits
// for the job to end. It returns the job's handle, its directory and the
// holder's pid.
func endedWithDeafHolder(t *testing.T, b *local.Local, run string) (h, dir string, esc int) {
	t.Helper()
	h, dir, _, esc = escapingJobWith(t, b, run, deafToTERM, "exit 0")
	waitEnded(t, b, h)
	return h, dir, esc
}

// deafJob starts a job named run with an escaped holder of the command
// lock deaf to SIGTERM: kind "running", its wrapper running too (wrapper
// is its pid), or "orphaned", its wrapper gone (wrapper is 0). It returns
// the job's handle, its directory and the pids.
func deafJob(t *testing.T, b *local.Local, kind, run string) (h, dir string, wrapper, esc int) {
	t.Helper()
	if kind == "running" {
		return escapingJobWith(t, b, run, deafToTERM, "sleep 60")
	}
	h, dir, esc = orphanedEscapee(t, b, run, deafToTERM)
	return h, dir, 0, esc
}

// jobRuns says whether the holder esc, or the group wrapper leads (where
// wrapper is not 0), still runs.
func jobRuns(wrapper, esc int) bool {
	return running(esc) || wrapper != 0 && groupRuns(wrapper)
}

// cancelAsServer is Cancel of h as the server's user.
func cancelAsServer(t *testing.T, b *local.Local, h string) error {
	t.Helper()
	return asTheServersUser(t, func() error { return b.Cancel(context.Background(), h) })
}

// cancelWhileJobRuns cancels h as the server's user every 100 ms while
// the job runs (jobRuns) and within has not passed. It returns the first
// error a Cancel returned and the last Cancel's.
func cancelWhileJobRuns(t *testing.T, b *local.Local, h string, wrapper, esc int, within time.Duration) (first, last error) {
	t.Helper()
	for deadline := time.Now().Add(within); jobRuns(wrapper, esc) && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		last = cancelAsServer(t, b, h)
		if first == nil {
			first = last
		}
	}
	return first, last
}

// wantJobStopped fails the test where the job's group (wrapper, where not
// 0) or the holder esc still runs; retried says how Cancel was retried.
func wantJobStopped(t *testing.T, wrapper, esc int, retried string) {
	t.Helper()
	if wrapper != 0 && groupRuns(wrapper) {
		t.Fatalf("%s; the job's group still runs", retried)
	}
	if running(esc) {
		t.Fatalf("%s; the holder of the command lock still runs", retried)
	}
}

// retryUntilNil calls fn every 100 ms until it returns nil or within has
// passed, and returns its last error.
func retryUntilNil(within time.Duration, fn func() error) error {
	var err error
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = fn(); err == nil {
			break
		}
	}
	return err
}

// wantHolderKilled fails the test where the holder esc still runs, a
// Cancel having returned nil.
func wantHolderKilled(t *testing.T, esc int) {
	t.Helper()
	if running(esc) {
		t.Fatal("Cancel returned nil with the holder of the command lock running")
	}
}
