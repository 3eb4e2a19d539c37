package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestAttackCancelledCopyRecordsWhatTheSiteTook: a staging cancelled at
// shutdown after the site took a chunk left that chunk's intent open for
// the next staging's reconcile. A site that then hides the chunk had it
// recorded as abandoned, and the bytes that crossed were on no
// confirmation. The cancelled copy now confirms what the site took before
// it returns, and the ledger counts them whatever the site shows later.
func TestAttackCancelledCopyRecordsWhatTheSiteTook(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := f.stager()
	s.Workers = 1
	s.Progress = &cancelAfter{n: 1, cancel: cancel}
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("the cancelled staging returned no error")
	}
	st, err := dataset.OpenStore(context.Background(), f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := dataset.ListChunks(context.Background(), st, "chat-logs")
	st.Close()
	if err != nil || len(ids) == 0 {
		t.Fatalf("chunks at the site after the cut: %v, %v", ids, err)
	}
	// The site hides every chunk it took.
	var taken int64
	for id, n := range ids {
		taken += n
		p := filepath.Join(f.siteDir, filepath.FromSlash(dataset.ChunkKey("chat-logs", id)))
		if err := os.Rename(p, filepath.Join(t.TempDir(), "hidden")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.stager().Stage(context.Background(), f.request()); err != nil {
		t.Fatal(err)
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil || len(sums) != 1 {
		t.Fatalf("summary: %+v, %v", sums, err)
	}
	// Everything at the site now crossed in the second staging, and the
	// hidden chunks crossed in the first.
	whole := wholeAtSite(t, f)
	if want := whole + taken; sums[0].BytesConfirmed != want {
		t.Fatalf("the ledger confirms %d bytes; %d are at the site and %d more crossed before the cancel", sums[0].BytesConfirmed, whole, taken)
	}
	if sums[0].OpenIntents != 0 {
		t.Fatalf("%d intents left open", sums[0].OpenIntents)
	}
}

// killedLedger is the ledger of a process killed mid-copy: once dead,
// nothing more reaches it, and the intents it left are open.
type killedLedger struct {
	Ledger
	dead atomic.Bool
}

func (l *killedLedger) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if l.dead.Load() {
		return errors.New("the process was killed")
	}
	return l.Ledger.Append(ctx, tenant, kind, runID, payload)
}

// killAfter has s killed once n chunks have reached the destination: its
// ledger takes nothing more, and its context is cancelled.
func killAfter(s *Stager, n int64, cancel context.CancelFunc) {
	l := &killedLedger{Ledger: s.Ledger}
	s.Ledger = l
	s.Progress = &cancelAfter{n: n, cancel: func() { l.dead.Store(true); cancel() }}
}

// TestAttackCancelledBeforeConfirmation: a copy cancelled after a whole
// batch reached the site (and read back intact) but before its
// confirmation was recorded left the batch's intent open; a site that
// hid the batch from the next reconcile had it recorded as abandoned. The
// batch is confirmed before the cancelled copy returns.
func TestAttackCancelledBeforeConfirmation(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := f.stager()
	s.Batch = 2
	var once sync.Once
	beforeConfirm = func() { once.Do(cancel) }
	t.Cleanup(func() { beforeConfirm = nil })
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("the cancelled staging returned no error")
	}
	beforeConfirm = nil
	st, err := dataset.OpenStore(context.Background(), f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := dataset.ListChunks(context.Background(), st, "chat-logs")
	st.Close()
	if err != nil || len(ids) != 2 {
		t.Fatalf("chunks at the site after the cut: %v, %v; want the first batch's 2", ids, err)
	}
	var taken int64
	for id, n := range ids {
		taken += n
		p := filepath.Join(f.siteDir, filepath.FromSlash(dataset.ChunkKey("chat-logs", id)))
		if err := os.Rename(p, filepath.Join(t.TempDir(), "hidden")); err != nil {
			t.Fatal(err)
		}
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil || len(sums) != 1 {
		t.Fatalf("summary: %+v, %v", sums, err)
	}
	if sums[0].BytesConfirmed != taken || sums[0].OpenIntents != 0 {
		t.Fatalf("the ledger confirms %d bytes with %d intents open; the site took %d", sums[0].BytesConfirmed, sums[0].OpenIntents, taken)
	}
	if _, err := f.stager().Stage(context.Background(), f.request()); err != nil {
		t.Fatal(err)
	}
	after, err := Summarize(context.Background(), f.ledger, "")
	if err != nil || len(after) != 1 {
		t.Fatalf("summary after the restaging: %+v, %v", after, err)
	}
	if want := wholeAtSite(t, f) + taken; after[0].BytesConfirmed != want || after[0].OpenIntents != 0 {
		t.Fatalf("after the restaging the ledger confirms %d bytes with %d intents open; want %d", after[0].BytesConfirmed, after[0].OpenIntents, want)
	}
}

// wholeAtSite is the sealed bytes of f's dataset, chunks and manifest, as
// a complete copy leaves them at the site.
func wholeAtSite(t *testing.T, f *fixture) int64 {
	t.Helper()
	var whole int64
	for _, c := range f.manifest.UniqueChunks() {
		whole += int64(seal.SealedSize(int(c.Size)))
	}
	raw, err := os.ReadFile(filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs"))))
	if err != nil {
		t.Fatal(err)
	}
	return whole + int64(len(raw))
}

// onAdd runs fn after the nth chunk has reached the destination.
type onAdd struct {
	n    int64
	seen atomic.Int64
	fn   func()
}

func (o *onAdd) Start(string, int64) {}
func (o *onAdd) Done()               {}
func (o *onAdd) Add(int64) {
	if o.seen.Add(1) == o.n {
		o.fn()
	}
}

// TestAttackSiteLosesBatchBeforeFlush: a batch that reached the site and
// read back intact, whose flush then failed (the site's folder gone
// from under the store), stopped the copy with its intent open; the next
// reconcile found nothing there and recorded the batch abandoned, and the
// bytes that crossed were on no confirmation. They are confirmed when the
// flush fails.
func TestAttackSiteLosesBatchBeforeFlush(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	s := f.stager()
	s.Workers, s.Batch = 1, 2
	aside := filepath.Join(t.TempDir(), "gone")
	s.Progress = &onAdd{n: 2, fn: func() {
		if err := os.Rename(f.siteDir, aside); err != nil {
			t.Error(err)
		}
	}}
	if _, err := s.Stage(context.Background(), f.request()); err == nil {
		t.Fatal("a staging whose site lost its folder succeeded")
	}
	// What the site took is what its lost folder holds.
	var taken int64
	err := filepath.WalkDir(aside, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		taken += fi.Size()
		return nil
	})
	if err != nil || taken == 0 {
		t.Fatalf("the site took %d bytes (%v)", taken, err)
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil || len(sums) != 1 {
		t.Fatalf("summary: %+v, %v", sums, err)
	}
	if sums[0].BytesConfirmed != taken || sums[0].OpenIntents != 0 {
		t.Fatalf("the ledger confirms %d bytes with %d intents open; the site took %d", sums[0].BytesConfirmed, sums[0].OpenIntents, taken)
	}
}

// TestCancelAfterManifestRecordsItsVersion: a copy cancelled once its
// manifest had reached the site and read back as sent confirmed the
// manifest without its digest. A reconcile that finds it there records
// the version; this confirmation did not, and the ledger named no version
// at the site (or an older one) until another copy ran. It names the
// version that crossed.
func TestCancelAfterManifestRecordsItsVersion(t *testing.T) {
	f := newFixture(t, 3, 50<<10, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := f.stager()
	s.Workers = 1
	s.Progress = &cancelAfter{n: int64(len(f.manifest.UniqueChunks())) + 1, cancel: cancel}
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("the cancelled staging returned no error")
	}
	raw, err := os.ReadFile(filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs"))))
	if err != nil {
		t.Fatalf("the manifest did not reach the site: %v", err)
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil || len(sums) != 1 {
		t.Fatalf("summary: %+v, %v", sums, err)
	}
	if want := hexSHA256(raw); sums[0].ManifestSHA256 != want || sums[0].OpenIntents != 0 {
		t.Fatalf("the ledger names manifest %q with %d intents open; the site holds %s", sums[0].ManifestSHA256, sums[0].OpenIntents, want)
	}
}
