package dataset

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// TestNamesWithPrefix: the names of the datasets under a prefix, each
// once however many objects it has, without the names of others; past
// the bound, the names found so far and ErrListTooLong, so that a caller
// removing them goes on where it stopped.
func TestNamesWithPrefix(t *testing.T) {
	ctx := context.Background()
	b, err := OpenStore(ctx, "file://"+filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, k := range []string{
		ManifestKey("ckpt-run-a-a1-10"), ChunkPrefix("ckpt-run-a-a1-10") + "00/x", ChunkPrefix("ckpt-run-a-a1-10") + "01/y",
		ChunkPrefix("ckpt-run-a-a2-20") + "00/z", // chunks only: a seal that failed
		ManifestKey("ckpt-run-ab-a1-10"), ManifestKey("other"),
		rootPrefix + "ckpt-run-a-stray", // no dataset's object
	} {
		if err := Put(ctx, b, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	names, err := NamesWithPrefix(ctx, b, "ckpt-run-a-", 100)
	if err != nil || !slices.Equal(names, []string{"ckpt-run-a-a1-10", "ckpt-run-a-a2-20"}) {
		t.Fatalf("names %v, %v; want the two of run a", names, err)
	}
	names, err = NamesWithPrefix(ctx, b, "ckpt-run-a-", 2)
	if !errors.Is(err, ErrListTooLong) || len(names) != 1 {
		t.Fatalf("past the bound: %v, %v; want one name and ErrListTooLong", names, err)
	}
}
