package slurm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRemoveRefusedAmongJunk: what Clean's removal from refused/
// costs once a workload has put 4,100 junk names there.
func BenchmarkRemoveRefusedAmongJunk(b *testing.B) {
	dir := b.TempDir()
	rec, err := newRecords(dir)
	if err != nil {
		b.Fatal(err)
	}
	refused := filepath.Join(dir, refusedDir)
	if err := os.Mkdir(refused, 0o700); err != nil {
		b.Fatal(err)
	}
	for i := range 4100 {
		if err := os.WriteFile(filepath.Join(refused, fmt.Sprintf("junk-%05d", i)), nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		rec.removeRefused("4242", "r1-1")
	}
}
