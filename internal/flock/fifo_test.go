package flock

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/fifotest"
)

// TestLockInDirectoryRacedWithAFIFO: os.Root looks at the lock file's
// directory (lstat) before it opens it, without O_DIRECTORY: a workload
// that exchanged a FIFO for a job's directory in between had LockIn open
// the FIFO to read and wait for a writer, and every Submit, poll and
// Clean of the attempt with it, for good. Each lock now is taken or
// fails, naming the lock file. The bound is a check for a hang, not a
// timing.
func TestLockInDirectoryRacedWithAFIFO(t *testing.T) {
	const rounds = 20000
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
	stop := fifotest.Exchange(t, job, job+".fifo")
	fifotest.EachReturns(t, stop, rounds, func(int) bool {
		unlock, err := LockIn(context.Background(), root, filepath.Join("job", "lock"))
		if err == nil {
			unlock()
		} else if !strings.Contains(err.Error(), filepath.Join(job, "lock")) {
			t.Errorf("LockIn with a FIFO exchanged for its directory: %v; want an error naming the lock file", err)
		}
		return true
	})
}
