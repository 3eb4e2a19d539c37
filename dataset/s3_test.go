package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestS3Store runs add, verify (with a missing and an altered object) and
// unseal against a real S3-compatible server (versitygw from
// scripts/s3-up.sh, which exports MERIDIAN_TEST_S3_URL and credentials).
func TestS3Store(t *testing.T) {
	url := os.Getenv("MERIDIAN_TEST_S3_URL")
	if url == "" {
		t.Skip("MERIDIAN_TEST_S3_URL not set: run scripts/s3-up.sh (scripts/test.sh does)")
	}
	ctx := context.Background()
	store, err := OpenStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src := t.TempDir()
	genTree(t, src, 3, 800<<10, 11)
	s := newSealer(t, "s3-dataset")
	res, err := Add(ctx, AddOptions{Name: "s3-dataset", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	chunks := res.Manifest.UniqueChunks()
	t.Cleanup(func() {
		for _, c := range chunks {
			store.Delete(ctx, ChunkKey("s3-dataset", c.ID))
		}
		store.Delete(ctx, ManifestKey("s3-dataset"))
	})
	again, err := Add(ctx, AddOptions{Name: "s3-dataset", Root: src, Store: store, Sealer: s})
	if err != nil || again.NewChunks != 0 {
		t.Fatalf("re-add to S3: %v, %d new chunks", err, again.NewChunks)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := UnsealDir(ctx, store, s, "s3-dataset", out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, out)

	if err := store.Delete(ctx, ChunkKey("s3-dataset", chunks[0].ID)); err != nil {
		t.Fatal(err)
	}
	data, err := ReadObject(ctx, store, ChunkKey("s3-dataset", chunks[1].ID), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	data[40] ^= 0x80
	if err := Put(ctx, store, ChunkKey("s3-dataset", chunks[1].ID), data); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, store, s, "s3-dataset", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Missing) != 1 || rep.Missing[0].ID != chunks[0].ID.String() || len(rep.Altered) != 1 || rep.Altered[0].ID != chunks[1].ID.String() {
		t.Fatalf("verify on S3: missing %+v altered %+v", rep.Missing, rep.Altered)
	}
}

// s3Store opens the test S3 server's store, skipping without one.
func s3Store(tb testing.TB) *Store {
	tb.Helper()
	url := os.Getenv("MERIDIAN_TEST_S3_URL")
	if url == "" {
		tb.Skip("MERIDIAN_TEST_S3_URL not set: run scripts/s3-up.sh (scripts/test.sh does)")
	}
	store, err := OpenStore(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}

// putObjects stores n small objects under the dataset name's prefix, and
// one beside it that is not the dataset's.
func putObjects(tb testing.TB, store *Store, name string, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		if err := Put(ctx, store, fmt.Sprintf("%s%s/chunks/%064x", rootPrefix, name, i), []byte("x")); err != nil {
			tb.Fatal(err)
		}
	}
	if err := Put(ctx, store, ManifestKey(name), []byte("m")); err != nil {
		tb.Fatal(err)
	}
}

// TestS3RemoveInBatches: Remove deletes a dataset of more objects than one
// DeleteObjects request takes, on a real S3 server, leaving nothing of it
// and nothing else touched, and counts what it removed.
func TestS3RemoveInBatches(t *testing.T) {
	store := s3Store(t)
	ctx := context.Background()
	const n = 2*deleteBatch + 17
	putObjects(t, store, "batched", n)
	putObjects(t, store, "batched-neighbour", 3)
	t.Cleanup(func() { Remove(ctx, store, "batched-neighbour", 100) })
	got, err := Remove(ctx, store, "batched", 10*n)
	if err != nil || got != n+1 {
		t.Fatalf("Remove = %d, %v; want %d objects (the chunks and the manifest)", got, err, n+1)
	}
	for o, err := range store.List(ctx, rootPrefix+"batched/") {
		t.Fatalf("left after Remove: %v %v", o.Key, err)
	}
	left := 0
	for _, err := range store.List(ctx, rootPrefix+"batched-neighbour/") {
		if err != nil {
			t.Fatal(err)
		}
		left++
	}
	if left != 4 {
		t.Fatalf("the neighbouring dataset has %d objects left, want its 4 (3 chunks and the manifest)", left)
	}
}

// BenchmarkS3Remove removes a dataset of 2,000 objects from the test S3
// server (put again before each removal, off the clock).
func BenchmarkS3Remove(b *testing.B) {
	store := s3Store(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		putObjects(b, store, "bench-remove", 2000)
		b.StartTimer()
		if _, err := Remove(ctx, store, "bench-remove", 10000); err != nil {
			b.Fatal(err)
		}
	}
}
