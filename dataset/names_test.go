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

// TestListedWithPrefixMostNames: asked for at most n names, a listing
// stops at the first object of the next name, with ErrListTooLong; each
// name it returns is whole, its objects and bytes all counted.
func TestListedWithPrefixMostNames(t *testing.T) {
	ctx := context.Background()
	b, err := OpenStore(ctx, "file://"+filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, name := range []string{"ckpt-r-a1-1", "ckpt-r-a1-10", "ckpt-r-a1-2", "ckpt-r-a1-3"} {
		for _, k := range []string{ManifestKey(name), ChunkPrefix(name) + "00/x", ChunkPrefix(name) + "01/y"} {
			if err := Put(ctx, b, k, []byte("xy")); err != nil {
				t.Fatal(err)
			}
		}
	}
	names, held, err := ListedWithPrefix(ctx, b, "ckpt-r-", ListBound(0), 2)
	if !errors.Is(err, ErrListTooLong) || len(names) != 2 {
		t.Fatalf("at most 2 names: %v, %v; want two and ErrListTooLong", names, err)
	}
	for _, name := range names {
		if h := held[name]; h.Objects != 3 || h.Bytes != 6 {
			t.Errorf("%s: %+v; want its 3 objects, 6 bytes", name, h)
		}
	}
	names, _, err = ListedWithPrefix(ctx, b, "ckpt-r-", ListBound(0), 4)
	if err != nil || len(names) != 4 {
		t.Fatalf("at most 4 names of 4: %v, %v; want all four", names, err)
	}
}
