package dataset

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/seal"
)

// TestScanFolderReportsTimedChunks: the chunks a scan is asked to time are
// reported present, with the time the store lists for them; the others
// asked for are reported present without one, and a chunk not asked for
// not at all.
func TestScanFolderReportsTimedChunks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := OpenStore(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	timed, plain, other := ChunkRef{ID: seal.ID{1}}, ChunkRef{ID: seal.ID{2}}, ChunkRef{ID: seal.ID{3}}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []ChunkRef{timed, plain, other} {
		p := filepath.Join(dir, filepath.FromSlash(ChunkKey("d", c.ID)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	f, err := ScanFolder(ctx, st, "d", FolderScan{Chunks: []ChunkRef{plain}, Timed: []ChunkRef{timed}, Limit: ListBound(3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Chunks) != 2 || f.Chunks[timed.ID] != 3 || f.Chunks[plain.ID] != 3 {
		t.Fatalf("chunks present: %v; want the timed one and the plain one, of 3 bytes", f.Chunks)
	}
	if len(f.ModTimes) != 1 || !f.ModTimes[timed.ID].Equal(at) {
		t.Fatalf("times: %v; want the timed chunk's, %v", f.ModTimes, at)
	}
}
