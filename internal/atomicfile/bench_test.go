package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkWriteFileIn: what one record written below a root costs (a
// job's record, jobs/KEY/jobid: temporary file, fsync, rename, fsync of
// the directory).
func BenchmarkWriteFileIn(b *testing.B) {
	state := b.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-1"), 0o700); err != nil {
		b.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	name := filepath.Join("jobs", "r1-1", "jobid")
	for b.Loop() {
		if err := WriteFileIn(root, name, []byte("4242\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
