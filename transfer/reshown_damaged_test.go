package transfer

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// damagedSite is a fixture whose site's store is an S3 server in memory
// that counts the GETs of each object.
func damagedSite(t testing.TB) (*fixture, *memS3) {
	t.Helper()
	old := minio.MaxRetry
	minio.MaxRetry = 1
	t.Cleanup(func() { minio.MaxRetry = old })
	m := &memS3{objs: map[string][]byte{}, gets: map[string]int{}, mod: map[string]time.Time{}}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	f := newFixture(t, 2, 64<<10, "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL)
	return f, m
}

// plantDamagedForgotten records n chunks of dataset chat-logs at site,
// none of which the fixtures' manifests name, as abandoned and then (with
// forget) forgotten in l, and has the site (m) hold each at its recorded
// size with bytes that do not authenticate. It returns their keys.
func plantDamagedForgotten(tb testing.TB, l Ledger, site string, m *memS3, n int, forget bool) []string {
	tb.Helper()
	ctx := context.Background()
	e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: site, From: "CN", To: "MY", AsOf: "2026-01-15"}
	var keys []string
	for start := 0; start < n; start += forgetBatch {
		var objs []Object
		var batch []string
		for i := start; i < min(n, start+forgetBatch); i++ {
			ch := dataset.ChunkRef{ID: seal.ID{0xd0, byte(i >> 8), byte(i)}, Size: 1000}
			o := Object{Key: dataset.ChunkKey("chat-logs", ch.ID), Bytes: int64(seal.SealedSize(1000)), Chunk: &ch}
			objs = append(objs, o)
			batch = append(batch, o.Key)
		}
		if err := l.Append(ctx, "", KindAbandoned, "", Abandoned{Intent: fmt.Sprintf("old%d", start), Dataset: e.Dataset, Site: e.Site,
			Missing: batch, Reason: "interrupted", Chunks: objs, Entry: &e}); err != nil {
			tb.Fatal(err)
		}
		if forget {
			if err := l.Append(ctx, "", KindForgotten, "", Forgotten{Kind: KindDataset, Dataset: e.Dataset, Site: e.Site, Chunks: batch, Reason: "gone"}); err != nil {
				tb.Fatal(err)
			}
		}
		m.mu.Lock()
		for _, o := range objs {
			b := make([]byte, o.Bytes)
			b[0] = 1
			m.objs[o.Key] = b
		}
		m.mu.Unlock()
		keys = append(keys, batch...)
	}
	return keys
}

// plantDamaged is plantDamagedForgotten for the fixture's ledger and
// site, checking that the ledger remembers every chunk as dropped.
func plantDamaged(t *testing.T, f *fixture, m *memS3, n int) []string {
	t.Helper()
	keys := plantDamagedForgotten(t, f.ledger, f.site.Metadata.Name, m, n, true)
	if got := droppedOf(t, f.ledger); len(got) != n {
		t.Fatalf("%d chunks remembered as dropped; want %d", len(got), n)
	}
	return keys
}

// readsOf is how many GETs of keys the site served since the last call,
// and which keys they read.
func readsOf(m *memS3, keys []string) (int, map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, read := 0, map[string]bool{}
	for _, k := range keys {
		if g := m.gets[k]; g > 0 {
			n += g
			read[k] = true
		}
	}
	clear(m.gets)
	return n, read
}

// notConfirmed checks that no planted chunk was confirmed, that the
// ledger still remembers every one as dropped, and that the site still
// holds them all.
func notConfirmed(t *testing.T, f *fixture, m *memS3, keys []string) {
	t.Helper()
	if got := reappearedOf(t, f.ledger); len(got) != 0 {
		t.Fatalf("confirmed as reappeared: %v; want none", got)
	}
	dropped := droppedOf(t, f.ledger)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if _, ok := dropped[k]; !ok {
			t.Fatalf("%s no longer remembered as dropped", k)
		}
		if _, ok := m.objs[k]; !ok {
			t.Fatalf("%s removed from the site", k)
		}
	}
}

// TestAttackSiteListsForgottenChunksDamaged: a site lists every chunk the
// ledger remembers as forgotten for the dataset (up to 65,536, of up to
// 8 MiB each) at its recorded size, with bytes that do not authenticate.
// Every staging read them all to authenticate them, and none was ever
// confirmed, so they stayed remembered, for the next staging to read
// again. Now one that failed is recorded as listed then (size and time),
// and read again only once the site lists it changed; none is confirmed.
func TestAttackSiteListsForgottenChunksDamaged(t *testing.T) {
	const n = 64
	f, m := damagedSite(t)
	keys := plantDamaged(t, f, m, n)
	ctx := context.Background()
	reads := make([]int, 2)
	for i := range reads {
		res, err := f.stager().Stage(ctx, f.request())
		if err != nil {
			t.Fatal(err)
		}
		if res.Reconciled != 0 || res.Damaged != 0 {
			t.Fatalf("staging %d reconciled %d and found %d damaged; want none", i+1, res.Reconciled, res.Damaged)
		}
		reads[i], _ = readsOf(m, keys)
		notConfirmed(t, f, m, keys)
	}
	if reads[0] < n {
		t.Fatalf("the first staging read the damaged chunks %d times; want each read (%d)", reads[0], n)
	}
	if reads[1] > reads[0]/10 {
		t.Fatalf("the second staging read the damaged chunks the first found damaged %d times (the first: %d); want none", reads[1], reads[0])
	}
	t.Logf("reads of %d damaged forgotten chunks: first staging %d, second %d", n, reads[0], reads[1])

	// The site lists one of them changed: it is read once more, and
	// still not confirmed.
	m.mu.Lock()
	m.mod[keys[5]] = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	m.mu.Unlock()
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	if got, read := readsOf(m, keys); got != 1 || !read[keys[5]] {
		t.Fatalf("after the site listed one chunk changed, the staging read %d (%v); want that one, once", got, read)
	}
	notConfirmed(t, f, m, keys)
}

// TestAttackSiteShowsAbandonedChunksDamaged: as above, but the chunks are
// abandoned and not yet forgotten (a reconcile forgets only those it
// finds not there): each reconcile read every one (and the staging's
// look for reappeared chunks read it again), found it damaged, and left
// it abandoned for the next. Now one that failed is not read again until
// the site lists it changed, nor twice in one staging.
func TestAttackSiteShowsAbandonedChunksDamaged(t *testing.T) {
	const n = 40
	f, m := damagedSite(t)
	keys := plantDamagedForgotten(t, f.ledger, f.site.Metadata.Name, m, n, false)
	if got := rememberedChunks(t, f.ledger); len(got) != n {
		t.Fatalf("%d chunks remembered as abandoned; want %d", len(got), n)
	}
	ctx := context.Background()
	reads := make([]int, 2)
	for i := range reads {
		res, err := f.stager().Stage(ctx, f.request())
		if err != nil {
			t.Fatal(err)
		}
		if res.Reconciled != 0 || res.Damaged != 0 {
			t.Fatalf("staging %d reconciled %d and found %d damaged; want none", i+1, res.Reconciled, res.Damaged)
		}
		reads[i], _ = readsOf(m, keys)
		if got := rememberedChunks(t, f.ledger); len(got) != n {
			t.Fatalf("after staging %d, %d chunks remembered as abandoned; want all %d", i+1, len(got), n)
		}
		if got := reappearedOf(t, f.ledger); len(got) != 0 {
			t.Fatalf("confirmed as reappeared: %v; want none", got)
		}
	}
	if reads[0] != n || reads[1] != 0 {
		t.Fatalf("the stagings read the damaged abandoned chunks %d and %d times; want %d (each once), then none", reads[0], reads[1], n)
	}
}

// TestReshownReadsBoundedPerStaging: a site that lists every forgotten
// chunk, damaged, with a new time at every listing (so that none is ever
// listed as it failed) has each staging read at most MaxReshownReads of
// them (and MaxReshownBytes), those never read first, then those that
// failed longest ago: all of them are read in turn (and each at most
// maxShownFails times: TestAttackSiteRelistsDamagedChunksChanged).
func TestReshownReadsBoundedPerStaging(t *testing.T) {
	defer func(n int, b int64) { maxReshownReads, maxReshownBytes = n, b }(maxReshownReads, maxReshownBytes)
	const n = 20
	ctx := context.Background()
	for _, bound := range []struct {
		reads int
		bytes int64
		want  int
	}{{8, 1 << 30, 8}, {1 << 20, 3 * int64(seal.SealedSize(1000)), 3}} {
		t.Run(fmt.Sprintf("reads=%d,bytes=%d", bound.reads, bound.bytes), func(t *testing.T) {
			f, m := damagedSite(t)
			keys := plantDamaged(t, f, m, n)
			maxReshownReads, maxReshownBytes = bound.reads, bound.bytes
			everRead := map[string]bool{}
			for i := range (n + bound.want - 1) / bound.want {
				m.mu.Lock()
				for _, k := range keys {
					m.mod[k] = m.modOf(k).Add(time.Second)
				}
				m.mu.Unlock()
				if _, err := f.stager().Stage(ctx, f.request()); err != nil {
					t.Fatal(err)
				}
				got, read := readsOf(m, keys)
				if got != bound.want {
					t.Fatalf("staging %d read the damaged chunks %d times; want %d (the bound)", i+1, got, bound.want)
				}
				for k := range read {
					everRead[k] = true
				}
				notConfirmed(t, f, m, keys)
			}
			if len(everRead) != n {
				t.Fatalf("%d of the %d chunks read in turn; want all", len(everRead), n)
			}
		})
	}
}

// TestForgottenChunkShownDamagedThenIntactIsConfirmed: a forgotten chunk
// the site lists damaged is remembered as failed as listed; once the site
// holds it intact (a new write, listed with a new time), a staging reads
// it again and confirms it.
func TestForgottenChunkShownDamagedThenIntactIsConfirmed(t *testing.T) {
	f, site, xKey, _, _ := forgetHiddenChunk(t)
	ctx := context.Background()
	site.show(t)
	p := filepath.Join(f.siteDir, filepath.FromSlash(xKey))
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), raw...)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := f.stager().Stage(ctx, f.request())
		if err != nil {
			t.Fatal(err)
		}
		if res.Reconciled != 0 {
			t.Fatalf("staging reconciled %d objects with the chunk damaged; want none", res.Reconciled)
		}
	}
	if n := recordsOf(t, f.ledger, KindShownDamaged); n != 1 {
		t.Fatalf("%d records of chunks shown damaged; want 1", n)
	}
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	res, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled != 1 {
		t.Fatalf("staging reconciled %d objects once the chunk was intact; want 1", res.Reconciled)
	}
	confirmedOnce(t, f, xKey)
}

// BenchmarkStagingDamagedForgotten: a staging of a small dataset to a
// site (an S3 server in memory) that lists forgotten chunks the ledger
// remembers for the dataset, up to 65,536 (maxDropped) of 1,000 bytes,
// every one damaged. Each iteration starts from the same ledger and
// stages twice: first and second report the GETs of those chunks each
// staging made, and the milliseconds it took.
func BenchmarkStagingDamagedForgotten(b *testing.B) {
	for _, n := range []int{1000, maxDropped} {
		b.Run(fmt.Sprintf("forgotten=%d", n), func(b *testing.B) {
			f, m := damagedSite(b)
			keys := plantDamagedForgotten(b, f.ledger, f.site.Metadata.Name, m, n, true)
			base, err := os.ReadFile(f.ledger.Path)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var reads [2]int
			var took [2]time.Duration
			i := 0
			for b.Loop() {
				b.StopTimer()
				f.ledger = &FileLedger{Path: filepath.Join(b.TempDir(), "ledger.jsonl")}
				if err := os.WriteFile(f.ledger.Path, base, 0o644); err != nil {
					b.Fatal(err)
				}
				readsOf(m, keys)
				b.StartTimer()
				for k := range 2 {
					start := time.Now()
					if _, err := f.stager().Stage(ctx, f.request()); err != nil {
						b.Fatal(err)
					}
					took[k] += time.Since(start)
					got, _ := readsOf(m, keys)
					reads[k] += got
				}
				i++
			}
			for k, name := range []string{"first", "second"} {
				b.ReportMetric(float64(reads[k])/float64(i), "reads-"+name+"/op")
				b.ReportMetric(float64(took[k].Milliseconds())/float64(i), "ms-"+name+"/op")
			}
		})
	}
}

// TestReshownAbandonedReadsBoundedPerStaging: as above, for chunks
// abandoned and not forgotten: the first reconcile reads each once (it
// forgets those not there), and from then on a site that lists them all
// changed at every listing has each staging read at most
// MaxReshownReads of them, in turn, until each has been read again once
// (maxShownFails), and then none.
func TestReshownAbandonedReadsBoundedPerStaging(t *testing.T) {
	defer func(n int) { maxReshownReads = n }(maxReshownReads)
	maxReshownReads = 8
	const n = 20
	f, m := damagedSite(t)
	keys := plantDamagedForgotten(t, f.ledger, f.site.Metadata.Name, m, n, false)
	ctx := context.Background()
	everRead := map[string]bool{}
	reread := 0
	for i := range 5 {
		m.mu.Lock()
		for _, k := range keys {
			m.mod[k] = m.modOf(k).Add(time.Second)
		}
		m.mu.Unlock()
		if _, err := f.stager().Stage(ctx, f.request()); err != nil {
			t.Fatal(err)
		}
		got, read := readsOf(m, keys)
		want := min(maxReshownReads, n-reread)
		if i == 0 {
			want = n
		} else {
			reread += got
		}
		if got != want {
			t.Fatalf("staging %d read the damaged abandoned chunks %d times; want %d", i+1, got, want)
		}
		if i > 0 {
			for k := range read {
				everRead[k] = true
			}
		}
		if got := rememberedChunks(t, f.ledger); len(got) != n {
			t.Fatalf("after staging %d, %d chunks remembered as abandoned; want all %d", i+1, len(got), n)
		}
	}
	if len(everRead) != n {
		t.Fatalf("%d of the %d chunks read in turn after the first staging; want all", len(everRead), n)
	}
	if got := reappearedOf(t, f.ledger); len(got) != 0 {
		t.Fatalf("confirmed as reappeared: %v; want none", got)
	}
}
