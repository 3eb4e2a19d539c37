package dataset

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkUnsealDir200Files unseals a dataset of 200 random files, 50 MB
// in all, in 26 directories, into a new directory each time: the cost of
// writing every file and directory through the opened directory, against
// writing them by path.
func BenchmarkUnsealDir200Files(b *testing.B) {
	ctx := context.Background()
	src := b.TempDir()
	genTree(b, src, 200, 250<<10, 7)
	store, _ := newStore(b)
	s := newSealer(b, "bench")
	if _, err := Add(ctx, AddOptions{Name: "bench", Root: src, Store: store, Sealer: s}); err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	b.SetBytes(200 * 250 << 10)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := UnsealDir(ctx, store, s, "bench", filepath.Join(out, strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
}
