package transfer

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// cutStaging stages f's dataset until one chunk has reached the site, then
// cancels: the chunks after it stay in open intents. It returns the keys
// of those chunks with the sealed bytes each was to be.
// cutStagingLacking is cutStaging's staging cut, then its first open
// intent, an object of it that is a chunk the site lacks, and the file
// ledger's entries of the dataset as the cut left them.
func cutStagingLacking(t *testing.T, f *fixture) (Intent, Object, []Entry) {
	t.Helper()
	cutStaging(t, f)
	open, err := OpenIntents(context.Background(), f.ledger, "", KindDataset, "chat-logs", f.site.Metadata.Name)
	if err != nil || len(open) == 0 {
		t.Fatalf("open intents: %d, %v", len(open), err)
	}
	var obj Object
	for _, o := range open[0].Objects {
		if _, err := os.Stat(filepath.Join(f.siteDir, filepath.FromSlash(o.Key))); o.Chunk != nil && errors.Is(err, fs.ErrNotExist) {
			obj = o
			break
		}
	}
	if obj.Chunk == nil {
		t.Fatal("the first open intent lacks no chunk at the site")
	}
	_, cut, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	return open[0], obj, cut
}

func cutStaging(t *testing.T, f *fixture) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := f.stager()
	s.Workers = 1
	s.Progress = &cancelAfter{n: 1, cancel: cancel}
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("interrupted Stage returned no error")
	}
	open, err := OpenIntents(context.Background(), f.ledger, "", KindDataset, "chat-logs", f.site.Metadata.Name)
	if err != nil || len(open) == 0 {
		t.Fatalf("open intents after the cut: %d, %v", len(open), err)
	}
	out := map[string]int64{}
	for _, in := range open {
		for _, o := range in.Objects {
			if _, err := os.Stat(filepath.Join(f.siteDir, filepath.FromSlash(o.Key))); errors.Is(err, fs.ErrNotExist) {
				out[o.Key] = o.Bytes
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("every chunk of the open intents reached the site")
	}
	return out
}

// plantTemp leaves at the site what a writer of key killed after n bytes
// leaves: its temporary file beside the object's name.
func plantTemp(t *testing.T, f *fixture, key, rnd string, n int) string {
	t.Helper()
	p := filepath.Join(f.siteDir, filepath.FromSlash(key)) + "." + rnd + ".tmp"
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A staging killed while writing a chunk leaves part of it at the site.
// Those bytes crossed the border; the next staging's reconcile recorded
// the chunk as never having reached the site, and the part stayed there,
// counted by nothing, until the temporary files' hour was up. Now the
// reconcile confirms the bytes found (named as partial), and removes the
// part.
func TestReconcileCountsPartOfAChunkKilledMidWrite(t *testing.T) {
	f := newFixture(t, 6, 200<<10, "")
	lacking := cutStaging(t, f)
	var key string
	var size int64
	for k, n := range lacking {
		key, size = k, n
		break
	}
	half := int(size / 2)
	temp := plantTemp(t, f, key, "0123456789abcdef", half)

	before, err := Summarize(context.Background(), f.ledger, "")
	if err != nil || len(before) != 1 {
		t.Fatalf("summary before: %+v, %v", before, err)
	}
	res, err := f.stager().Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(temp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the part of %s is still at the site after it was counted: %v", key, err)
	}
	recs, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	var partial []Partial
	for i, e := range ents {
		if len(e.Partial) > 0 {
			if !e.Reconciled {
				t.Errorf("record %d names a partial object and is not a reconciled one", recs[i].Seq)
			}
			partial = append(partial, e.Partial...)
		}
	}
	if len(partial) != 1 || partial[0].Key != key || partial[0].Bytes != int64(half) {
		t.Fatalf("partial objects on the ledger: %+v; want %s with %d bytes", partial, key, half)
	}
	after, err := Summarize(context.Background(), f.ledger, "")
	if err != nil || len(after) != 1 {
		t.Fatalf("summary after: %+v, %v", after, err)
	}
	// Everything now at the site, plus the part that crossed and was
	// removed.
	var whole int64
	for _, c := range f.manifest.UniqueChunks() {
		whole += int64(seal.SealedSize(int(c.Size)))
	}
	raw, err := os.ReadFile(filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs"))))
	if err != nil {
		t.Fatal(err)
	}
	whole += int64(len(raw))
	if want := whole + int64(half); after[0].BytesConfirmed != want {
		t.Fatalf("ledger confirms %d bytes at the site; %d are there and %d more reached it in part (reconciled %d)", after[0].BytesConfirmed, whole, half, res.Reconciled)
	}
	if after[0].BytesPartial != int64(half) {
		t.Fatalf("the summary counts %d bytes of parts; want %d", after[0].BytesPartial, half)
	}
	if after[0].OpenIntents != 0 {
		t.Fatalf("%d intents left open", after[0].OpenIntents)
	}
}

// A site's store is hostile: temporary objects it plants under the name
// of an object an intent lacks, larger than anything the intent was to
// send there, are not what a copy wrote, and count for nothing; nor do
// names that are not a temporary object's.
func TestReconcilePartialIgnoresOversizedTemps(t *testing.T) {
	f := newFixture(t, 6, 200<<10, "")
	lacking := cutStaging(t, f)
	var key string
	var size int64
	for k, n := range lacking {
		key, size = k, n
		break
	}
	plantTemp(t, f, key, "00000000000000aa", int(size)+1)
	plantTemp(t, f, key, "not-hex-at-all!!", 10)
	// The cut staging's own record may name the part of a write the cut
	// stopped (its bytes crossed): only what the reconcile records counts.
	_, cut, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.stager().Stage(context.Background(), f.request()); err != nil {
		t.Fatal(err)
	}
	_, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents[len(cut):] {
		if len(e.Partial) > 0 {
			t.Fatalf("planted temporary objects counted as crossed: %+v", e.Partial)
		}
	}
}
