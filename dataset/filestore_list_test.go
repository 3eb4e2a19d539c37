package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/seal"
)

// TestAttackFileStoreListEmptyDirs: a site's file store whose dataset
// directory holds more empty directories (or more names that are not the
// dataset's keys) than a listing's budget, or directories nested deeper
// than any key, is refused with ErrListTooLong. Directories were never
// counted, so a listing walked, and read whole into memory, all of them
// until the caller's deadline. (The budget is lowered here so that the
// tree past it is cheap to make; the walk counts against it the same way
// at its real size.)
func TestAttackFileStoreListEmptyDirs(t *testing.T) {
	defer func(n int) { listDirBudget = n }(listDirBudget)
	listDirBudget = 300
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string)
		list func(ctx context.Context, st *Store) error
	}{
		{"empty dirs", func(t *testing.T, dir string) {
			for i := range 2 * listDirBudget {
				mkdir(t, filepath.Join(dir, "meridian/d/chunks", fmt.Sprintf("%02x", i%256), fmt.Sprintf("x%d", i)))
			}
		}, func(ctx context.Context, st *Store) error {
			_, err := ChunksPresent(ctx, st, "d", nil, ListBound(0))
			return err
		}},
		{"names without the prefix", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "meridian"))
			for i := range 2 * listDirBudget {
				if err := os.WriteFile(filepath.Join(dir, "meridian", fmt.Sprintf("x%d", i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, func(ctx context.Context, st *Store) error {
			_, err := NamesWithPrefix(ctx, st, "d", ListBound(0))
			return err
		}},
		{"deep", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "meridian/d/chunks", strings.Repeat("a/", maxListDepth+2)))
		}, func(ctx context.Context, st *Store) error {
			_, err := RemoveStaleTemps(ctx, st, "d", 0, ListBound(0))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.make(t, dir)
			// One genuine chunk among them.
			var id seal.ID
			id[0] = 0xab
			key := filepath.Join(dir, filepath.FromSlash(ChunkKey("d", id)))
			mkdir(t, filepath.Dir(key))
			if err := os.WriteFile(key, []byte("sealed"), 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := OpenStore(context.Background(), "file://"+dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := tc.list(context.Background(), st); !errors.Is(err, ErrListTooLong) {
				t.Fatalf("a listing past the budget of entries that are not objects: %v, want ErrListTooLong", err)
			}
		})
	}
}

// TestFileStoreListWithinBudget: directories that hold keys earn their
// place: a dataset of more chunks than the budget, spread over its 256
// directories, with as many empty directories as the budget allows, lists
// whole.
func TestFileStoreListWithinBudget(t *testing.T) {
	defer func(n int) { listDirBudget = n }(listDirBudget)
	listDirBudget = 300
	dir := t.TempDir()
	for i := range listDirBudget - 260 {
		mkdir(t, filepath.Join(dir, "meridian/d/chunks/00", fmt.Sprintf("empty%d", i)))
	}
	want := map[seal.ID]int64{}
	for i := range 2 * listDirBudget {
		var id seal.ID
		id[0], id[1] = byte(i), byte(i>>8)
		p := filepath.Join(dir, filepath.FromSlash(ChunkKey("d", id)))
		mkdir(t, filepath.Dir(p))
		if err := os.WriteFile(p, []byte("sealed"), 0o644); err != nil {
			t.Fatal(err)
		}
		want[id] = 6
	}
	st, err := OpenStore(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := ListChunks(context.Background(), st, "d")
	if err != nil || len(got) != len(want) {
		t.Fatalf("listed %d chunks of %d: %v", len(got), len(want), err)
	}
	for id := range want {
		if got[id] != 6 {
			t.Fatalf("chunk %s not listed", id)
		}
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFileStoreList lists the chunks of a dataset of 4096 chunks in a
// file store.
func BenchmarkFileStoreList(b *testing.B) {
	dir := b.TempDir()
	for i := range 4096 {
		var id seal.ID
		id[0], id[1], id[2] = byte(i), byte(i>>8), 7
		p := filepath.Join(dir, filepath.FromSlash(ChunkKey("d", id)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("sealed"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	st, err := OpenStore(context.Background(), "file://"+dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ReportAllocs()
	for b.Loop() {
		got, err := ListChunks(context.Background(), st, "d")
		if err != nil || len(got) != 4096 {
			b.Fatalf("%d chunks, %v", len(got), err)
		}
	}
}
