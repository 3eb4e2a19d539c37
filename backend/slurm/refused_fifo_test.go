package slurm

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/internal/fifotest"
)

// TestRemoveRefusedRacedWithAFIFO: Clean's removal from refused/ looked
// at refused (lstat) and then opened it (os.Root.OpenRoot) to read,
// without O_DIRECTORY: a workload that exchanged a FIFO for it in between
// had Clean wait for a writer, for good, and the server with it. Each
// removal now returns. The bound is a check for a hang, not a timing.
func TestRemoveRefusedRacedWithAFIFO(t *testing.T) {
	const rounds, bound = 20000, 5 * time.Second
	dir := t.TempDir()
	rec, err := newRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(dir, refusedDir)
	if err := os.Mkdir(refused, 0o700); err != nil {
		t.Fatal(err)
	}
	stop := fifotest.Exchange(t, refused, refused+".fifo")
	defer stop()
	returned := make(chan struct{})
	var hung sync.Once
	stopCalls := make(chan struct{})
	go func() {
		defer close(returned)
		for range rounds {
			select {
			case <-stopCalls:
				return
			default:
			}
			rec.removeRefused("4242", "r1-1")
			returned <- struct{}{}
		}
	}()
	for made := 0; ; made++ {
		select {
		case _, ok := <-returned:
			if !ok {
				return
			}
		case <-time.After(bound):
			t.Errorf("removeRefused %d of %d: no return within %v, blocked opening a FIFO", made+1, rounds, bound)
			hung.Do(func() { close(stopCalls) })
			stop()
			for range returned {
			}
			return
		}
	}
}
