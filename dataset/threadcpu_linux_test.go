package dataset

import (
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time the calling OS thread has used so far; the
// caller locks its goroutine to the thread. Unlike the wall clock, it does
// not grow while a loaded machine leaves the test waiting for a core.
func threadCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
