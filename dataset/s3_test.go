package dataset

import (
	"context"
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
