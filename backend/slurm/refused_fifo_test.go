package slurm

import (
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/internal/fifotest"
)

// TestRemoveRefusedRacedWithAFIFO: Clean's removal from refused/ looked
// at refused (lstat) and then opened it (os.Root.OpenRoot) to read,
// without O_DIRECTORY: a workload that exchanged a FIFO for it in between
// had Clean wait for a writer, for good, and the server with it. Each
// removal now returns. The bound is a check for a hang, not a timing.
func TestRemoveRefusedRacedWithAFIFO(t *testing.T) {
	const rounds = 20000
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
	fifotest.EachReturns(t, stop, rounds, func(int) bool {
		rec.removeRefused("4242", "r1-1")
		return true
	})
}
