package slurm

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestRetireLogCountsItsOwnLinesOnce: a backend counted each retire it
// appended when it wrote it and again when it next read the log on, so
// the log was compacted at half the lines the bound names.
func TestRetireLogCountsItsOwnLinesOnce(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "slurm-retired")
	l, err := openRetireLog(dir, filepath.Join(root, "site"), []byte("0123456789abcdef0123456789abcdef"), newSeenSet(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := 0; i < n; i++ {
		if err := l.add(fmt.Sprintf("%d", 1000+i), fmt.Sprintf("r%d-1", i)); err != nil {
			t.Fatal(err)
		}
		l.readOn() // as a poll does, for a record it does not know retired
	}
	l.mu.Lock()
	lines := l.lines
	l.mu.Unlock()
	if lines != n {
		t.Fatalf("the log holds %d lines; the backend counts %d", n, lines)
	}
}
