package transfer

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

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
	putObject = func(ctx context.Context, b *dataset.Store, key string, data []byte) (int64, error) {
		if failed == "" && key != dataset.ManifestKey("chat-logs") {
			failed = key
			return 0, &dataset.UploadError{Crossed: took, Err: errors.New("the site dropped the connection")}
		}
		return dataset.PutResent(ctx, b, key, data)
	}
	t.Cleanup(func() { putObject = dataset.PutResent })
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
	ents := partialEntries(t, f)
	if len(ents) != 1 || len(ents[0].Partial) != 1 || ents[0].Partial[0] != (Partial{Key: failed, Bytes: took}) {
		t.Fatalf("the confirmation of the failed batch: %+v; want it to name %s, %d bytes", ents, failed, took)
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

// TestAttackSiteRefusesWhatItReceived: a site that takes a chunk's PUT,
// body and all, and answers it with a refusal (403) keeps nothing a
// reconcile could find, and the bytes that crossed to it reached no
// ledger: every try sent them again, unrecorded. The copy's record of the
// failed batch counts them, as crossed in part (Partial), and the next
// staging, the site taking them, counts the chunk once more, as sent.
func TestAttackSiteRefusesWhatItReceived(t *testing.T) {
	old := minio.MaxRetry
	minio.MaxRetry = 1
	t.Cleanup(func() { minio.MaxRetry = old })
	var refused atomic.Value // the key refused, once
	m := &memS3{objs: map[string][]byte{}, refuse: func(key string) bool {
		return strings.Contains(key, "/chunks/") && refused.CompareAndSwap(nil, key)
	}}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	f := newFixture(t, 3, 100<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	s := f.stager()
	s.Workers = 1
	if _, err := s.Stage(context.Background(), f.request()); err == nil || Transient(err) {
		t.Fatalf("a staging the site refused a chunk of: %v; want a refusal", err)
	}
	key, _ := refused.Load().(string)
	var size int64
	for _, ch := range f.manifest.UniqueChunks() {
		if strings.HasSuffix(key, dataset.ChunkKey("chat-logs", ch.ID)) {
			size = int64(seal.SealedSize(int(ch.Size)))
		}
	}
	if size == 0 {
		t.Fatalf("refused %q, not one of the manifest's chunks", key)
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].BytesPartial != size || sums[0].ChunksSent != 0 || sums[0].OpenIntents != 1 {
		t.Fatalf("after the refusal the ledger says %+v; want the %d bytes the site refused confirmed in part, no chunk, the rest intended", sums, size)
	}
	res, err := f.stager().Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	var atSite int64
	for _, ch := range f.manifest.UniqueChunks() {
		atSite += int64(seal.SealedSize(int(ch.Size)))
	}
	sums, err = Summarize(context.Background(), f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.ChunksSent != len(f.manifest.UniqueChunks()) || sums[0].OpenIntents != 0 ||
		sums[0].BytesConfirmed != atSite+size+manifestBytes(t, f) {
		t.Fatalf("after the next staging: %+v, ledger %+v; want every chunk, the manifest and the %d refused bytes", res, sums, size)
	}
}

// TestResentBytesConfirmed: a write to the site that failed after its
// body was sent three times (the site answering 500, then refusing) was
// confirmed as one body crossed: the resends reached no ledger. The
// confirmation now counts every try's bytes.
func TestResentBytesConfirmed(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	var failed string
	var sent int64
	putObject = func(ctx context.Context, b *dataset.Store, key string, data []byte) (int64, error) {
		if failed == "" && key != dataset.ManifestKey("chat-logs") {
			failed, sent = key, 3*int64(len(data))
			return 0, &dataset.UploadError{Crossed: sent, Err: errors.New("the site refused the third try")}
		}
		return dataset.PutResent(ctx, b, key, data)
	}
	t.Cleanup(func() { putObject = dataset.PutResent })
	s := f.stager()
	s.Workers = 1
	if _, err := s.Stage(context.Background(), f.request()); err == nil {
		t.Fatal("a staging whose write failed was not refused")
	}
	ents := partialEntries(t, f)
	if len(ents) != 1 || len(ents[0].Partial) != 1 || ents[0].Partial[0] != (Partial{Key: failed, Bytes: sent}) {
		t.Fatalf("the confirmation of the failed batch: %+v; want it to name %s, %d bytes", ents, failed, sent)
	}
}

// TestResentBytesOfDeliveredObjectConfirmed: a chunk the site answered
// 500 twice, each try's body read, then took, was confirmed as one
// chunk's bytes: the two bodies before reached no ledger. The staging's
// confirmation now counts them, naming the chunk (Partial), and the chunk
// as sent, once.
func TestResentBytesOfDeliveredObjectConfirmed(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	total := len(f.manifest.UniqueChunks())
	var resentKey string
	var resent int64
	putObject = func(ctx context.Context, b *dataset.Store, key string, data []byte) (int64, error) {
		if _, err := dataset.PutResent(ctx, b, key, data); err != nil {
			return 0, err
		}
		if resentKey == "" && key != dataset.ManifestKey("chat-logs") {
			resentKey, resent = key, 2*int64(len(data))
			return resent, nil
		}
		return 0, nil
	}
	t.Cleanup(func() { putObject = dataset.PutResent })
	s := f.stager()
	s.Workers = 1
	res, err := s.Stage(context.Background(), f.request())
	if err != nil || res.ChunksSent != total {
		t.Fatalf("a staging one of whose chunks was sent three times: %+v, %v", res, err)
	}
	var atSite int64
	for _, ch := range f.manifest.UniqueChunks() {
		atSite += int64(seal.SealedSize(int(ch.Size)))
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].ChunksSent != total || sums[0].BytesPartial != resent ||
		sums[0].BytesConfirmed != atSite+manifestBytes(t, f)+resent {
		t.Fatalf("ledger summary %+v; want every chunk, the manifest and the %d bytes resent", sums, resent)
	}
	_, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	var named bool
	for _, e := range ents {
		for _, p := range e.Partial {
			named = named || p == (Partial{Key: resentKey, Bytes: resent})
		}
	}
	if !named {
		t.Fatalf("no confirmation names %s, %d bytes resent: %+v", resentKey, resent, ents)
	}
}

// partialEntries is the confirmations of the fixture's ledger that name
// objects crossed in part (the failed batch's own record of the objects
// not sent closes its intent with none).
func partialEntries(t *testing.T, f *fixture) []Entry {
	t.Helper()
	_, all, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	var out []Entry
	for _, e := range all {
		if len(e.Partial) > 0 {
			out = append(out, e)
		}
	}
	return out
}
