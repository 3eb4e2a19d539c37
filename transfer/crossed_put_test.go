package transfer

import (
	"context"
	"errors"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestUploadPartsCrossedAreConfirmed: a write to the site that failed
// after the site took part of it, and was aborted (an S3 upload in parts),
// left nothing at the site for a reconcile to find: the bytes that crossed
// reached no ledger. The copy's own record of the failed batch now counts
// them, as crossed in part (Partial), not as a chunk delivered; the chunk
// is sent again by the next copy and counted then, once.
func TestUploadPartsCrossedAreConfirmed(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	total := len(f.manifest.UniqueChunks())
	const took = 12345
	var failed string
	putObject = func(ctx context.Context, b *dataset.Store, key string, data []byte) error {
		if failed == "" && key != dataset.ManifestKey("chat-logs") {
			failed = key
			return &dataset.UploadError{Crossed: took, Err: errors.New("the site dropped the connection")}
		}
		return dataset.Put(ctx, b, key, data)
	}
	t.Cleanup(func() { putObject = dataset.Put })
	s := f.stager()
	s.Workers = 1
	if _, err := s.Stage(context.Background(), f.request()); err == nil || dataset.Crossed(err) != took {
		t.Fatalf("a staging whose write failed part way: %v", err)
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].BytesConfirmed != took || sums[0].BytesPartial != took || sums[0].ChunksSent != 0 {
		t.Fatalf("after the failed write the ledger says %+v; want the %d bytes the site took confirmed, in part, and no chunk", sums, took)
	}
	_, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil || len(ents) != 1 || len(ents[0].Partial) != 1 || ents[0].Partial[0] != (Partial{Key: failed, Bytes: took}) {
		t.Fatalf("the confirmation of the failed batch: %+v (%v); want it to name %s, %d bytes", ents, err, failed, took)
	}
	res, err := s.Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.ChunksSent != total {
		t.Fatalf("the next staging sent %d chunks, want %d", res.ChunksSent, total)
	}
	var atSite int64
	for _, ch := range f.manifest.UniqueChunks() {
		atSite += int64(seal.SealedSize(int(ch.Size)))
	}
	sums, err = Summarize(context.Background(), f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if sums[0].ChunksSent != total || sums[0].OpenIntents != 0 || sums[0].BytesPartial != took ||
		sums[0].BytesConfirmed != atSite+took+manifestBytes(t, f) {
		t.Fatalf("ledger summary %+v; want the %d chunk bytes, the manifest and the %d that crossed before", sums, atSite, took)
	}
}
