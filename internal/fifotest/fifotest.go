// Package fifotest helps tests show that a call cannot be held for ever
// by a FIFO put where it opens a directory or a file: opening a FIFO to
// read blocks until a writer comes.
package fifotest

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Free opens each of paths that is a FIFO to write, without waiting,
// which frees a call blocked opening it to read.
func Free(paths ...string) {
	for _, p := range paths {
		if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
}

// Exchange makes a FIFO at fifo and swaps it with path, each taking the
// other's name (renameat2 RENAME_EXCHANGE, so that path always names one
// of them), again and again until the stop it returns, or the test's end:
// a workload racing a look at path and its open. Stopped, it frees a call
// blocked on the FIFO, wherever it is.
func Exchange(t testing.TB, path, fifo string) (stop func()) {
	t.Helper()
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, fifo, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("exchange %s and %s: %v", path, fifo, err)
				return
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			<-done
			Free(path, fifo)
		})
	}
	t.Cleanup(stop)
	return stop
}

// HangBound is how long a call may take before EachReturns holds it
// blocked: a check for a hang, not a timing.
const HangBound = 5 * time.Second

// EachReturns makes the calls call(0), call(1)..., up to n of them or
// until one says to stop, failing the test if one does not return within
// HangBound; it frees a call that hangs (free) and makes no more. It
// reports how many returned.
func EachReturns(t testing.TB, free func(), n int, call func(i int) (more bool)) int {
	t.Helper()
	returned := make(chan bool)
	var hung atomic.Bool
	go func() {
		defer close(returned)
		for i := 0; i < n && !hung.Load(); i++ {
			if !call(i) {
				return
			}
			returned <- true
		}
	}()
	made := 0
	for {
		select {
		case _, ok := <-returned:
			if !ok {
				return made
			}
			made++
		case <-time.After(HangBound):
			t.Errorf("call %d of %d: no return within %v, blocked opening a FIFO", made+1, n, HangBound)
			hung.Store(true)
			free()
			for range returned {
			}
			return made
		}
	}
}

// Returns makes call once, as EachReturns does, and returns its error.
func Returns(t testing.TB, free func(), call func() error) error {
	t.Helper()
	var err error
	EachReturns(t, free, 1, func(int) bool {
		err = call()
		return true
	})
	return err
}
