package flock

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockInDirectoryRacedWithAFIFO: os.Root looks at the lock file's
// directory (lstat) before it opens it, without O_DIRECTORY: a workload
// that exchanged a FIFO for a job's directory in between had LockIn open
// the FIFO to read and wait for a writer, and every Submit, poll and
// Clean of the attempt with it, for good. Each lock now is taken or
// fails, naming the lock file. The bound is a check for a hang, not a
// timing.
func TestLockInDirectoryRacedWithAFIFO(t *testing.T) {
	const rounds, bound = 20000, 5 * time.Second
	state := t.TempDir()
	job := filepath.Join(state, "job")
	if err := os.Mkdir(job, 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	stop := exchangeWithFIFO(t, job)
	returned := make(chan error)
	var hung sync.Once
	quit := make(chan struct{})
	go func() {
		defer close(returned)
		for range rounds {
			select {
			case <-quit:
				return
			default:
			}
			unlock, err := LockIn(context.Background(), root, filepath.Join("job", "lock"))
			if err == nil {
				unlock()
			}
			returned <- err
		}
	}()
	for made := 0; ; made++ {
		select {
		case err, ok := <-returned:
			if !ok {
				return
			}
			if err != nil && !strings.Contains(err.Error(), filepath.Join(job, "lock")) {
				t.Errorf("LockIn with a FIFO exchanged for its directory: %v; want an error naming the lock file", err)
			}
		case <-time.After(bound):
			t.Errorf("LockIn %d of %d: no return within %v, blocked opening a FIFO", made+1, rounds, bound)
			hung.Do(func() { close(quit) })
			stop()
			for range returned {
			}
			return
		}
	}
}

// exchangeWithFIFO swaps the directory dir and a FIFO beside it, each
// taking the other's name (renameat2 RENAME_EXCHANGE), again and again
// until stopped or the test's end. Stopped, it frees a reader blocked
// opening the FIFO, wherever it is, by opening it to write.
func exchangeWithFIFO(t *testing.T, dir string) (stop func()) {
	t.Helper()
	fifo := dir + ".fifo"
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
			if err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, fifo, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("exchange %s and %s: %v", dir, fifo, err)
				return
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			<-done
			for _, p := range []string{dir, fifo} {
				if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
