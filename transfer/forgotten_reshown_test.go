package transfer

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// shyFileSite is a site's file store that hides objects it holds (moves
// them out of the store's directory, so that every read and listing
// answers "not there") and shows them again, intact, when it likes.
type shyFileSite struct {
	dir    string
	aside  string
	hidden map[string]string // the object's path in the store → where it is kept meanwhile
}

func newShyFileSite(t *testing.T, dir string) *shyFileSite {
	return &shyFileSite{dir: dir, aside: t.TempDir(), hidden: map[string]string{}}
}

func (h *shyFileSite) hide(t *testing.T, key string) {
	t.Helper()
	p := filepath.Join(h.dir, filepath.FromSlash(key))
	aside := filepath.Join(h.aside, itoa(len(h.hidden)))
	if err := os.Rename(p, aside); err != nil {
		t.Fatal(err)
	}
	h.hidden[p] = aside
}

func (h *shyFileSite) show(t *testing.T) {
	t.Helper()
	for p, aside := range h.hidden {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(aside, p); err != nil {
			t.Fatal(err)
		}
	}
	clear(h.hidden)
}

// forgetHiddenChunk has a staging killed after one chunk (xKey) reached
// the site, which then hides it; the tenant drops the file holding it
// (xFile, whose content was kept) from the dataset, and two stagings of
// the new version abandon the hidden chunk, then forget it.
func forgetHiddenChunk(t *testing.T) (f *fixture, site *shyFileSite, xKey, xFile string, kept []byte) {
	t.Helper()
	f = newFixture(t, 3, 200<<10, "")
	ctx := context.Background()
	site = newShyFileSite(t, f.siteDir)

	// A staging killed after its first chunk reached the site.
	kctx, cancel := context.WithCancel(ctx)
	s := f.stager()
	s.Workers = 1
	killAfter(s, 1, cancel)
	if _, err := s.Stage(kctx, f.request()); err == nil {
		t.Fatal("interrupted Stage returned no error")
	}
	cancel()
	st, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := dataset.ListChunks(ctx, st, "chat-logs")
	st.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("chunks at the site after the cut: %v, %v; want 1", ids, err)
	}
	var x seal.ID
	for id := range ids {
		x = id
	}
	xKey = dataset.ChunkKey("chat-logs", x)
	site.hide(t, xKey)

	// The tenant drops the file holding that chunk: the new version does
	// not name it.
	for _, fl := range f.manifest.Files {
		if slices.ContainsFunc(fl.Chunks, func(c dataset.ChunkRef) bool { return c.ID == x }) {
			xFile = filepath.Join(f.src, filepath.FromSlash(fl.Path))
		}
	}
	if xFile == "" {
		t.Fatal("no file holds the chunk that arrived")
	}
	kept, err = os.ReadFile(xFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(xFile); err != nil {
		t.Fatal(err)
	}
	f.add(t)
	// The first staging of it abandons the hidden chunk, the second
	// forgets it.
	for range 2 {
		if _, err := f.stager().Stage(ctx, f.request()); err != nil {
			t.Fatal(err)
		}
	}
	if n := recordsOf(t, f.ledger, KindForgotten); n != 1 {
		t.Fatalf("%d records forgetting chunks; want 1 (the hidden chunk)", n)
	}
	return f, site, xKey, xFile, kept
}

// TestAttackSiteHidesADroppedChunkUntilForgotten: a chunk a killed staging
// delivered is hidden by the site from the reconcile (abandoned), and
// still hidden when a reconcile finds the dataset's new manifest no
// longer names it (forgotten: no reconcile reads it again). The site then
// shows it, intact, once a later version names it again: it was skipped
// as already there, bytes at the site that no confirmation counted. The
// ledger remembers the chunks it forgot (as dropped), and the staging
// that finds one there confirms it.
func TestAttackSiteHidesADroppedChunkUntilForgotten(t *testing.T) {
	f, site, xKey, xFile, kept := forgetHiddenChunk(t)
	ctx := context.Background()
	// The site shows the chunk again, and the next version names it.
	site.show(t)
	if err := os.WriteFile(xFile, kept, 0o644); err != nil {
		t.Fatal(err)
	}
	f.add(t)
	res, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled != 1 {
		t.Fatalf("staging reconciled %d objects; want 1, the chunk the site showed again", res.Reconciled)
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	at := chunksAtSite(t, f)
	if len(sums) != 1 || sums[0].ChunksSent != at || sums[0].OpenIntents != 0 {
		t.Fatalf("ledger summary %+v; want all %d chunks at the site confirmed, once each", sums, at)
	}
	confirmedOnce(t, f, xKey)
}

// TestAttackSiteShowsAForgottenChunkNoManifestNames: as above, a chunk a
// killed staging delivered is hidden from the reconciles until they
// forget it, but the site shows it again while no manifest names it: a
// staging looked only at the manifest's chunks, and the bytes sat at the
// site with no record counting them. The staging's one listing of the
// dataset's folder at the site now looks for the chunks the ledger
// remembers as dropped too, and one it lists, intact, is confirmed as
// reappeared, whatever the manifest names.
func TestAttackSiteShowsAForgottenChunkNoManifestNames(t *testing.T) {
	f, site, xKey, _, _ := forgetHiddenChunk(t)
	ctx := context.Background()
	site.show(t)
	res, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled != 1 || res.ChunksSent != 0 {
		t.Fatalf("staging reconciled %d objects and sent %d chunks; want 1 reconciled (the chunk the site showed again), none sent", res.Reconciled, res.ChunksSent)
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	at := chunksAtSite(t, f)
	if len(sums) != 1 || sums[0].ChunksSent != at || sums[0].OpenIntents != 0 {
		t.Fatalf("ledger summary %+v; want all %d chunks at the site confirmed, once each", sums, at)
	}
	confirmedOnce(t, f, xKey)
}

// TestForgottenChunkShownDamagedIsNotConfirmed: a forgotten chunk the
// site lists at its size but with bytes that do not authenticate is not
// confirmed (no bytes of the dataset are known to be there), nor removed
// or sent again (no manifest names it); it stays remembered.
func TestForgottenChunkShownDamagedIsNotConfirmed(t *testing.T) {
	f, site, xKey, _, _ := forgetHiddenChunk(t)
	ctx := context.Background()
	site.show(t)
	p := filepath.Join(f.siteDir, filepath.FromSlash(xKey))
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled != 0 || res.ChunksSent != 0 || res.Damaged != 0 {
		t.Fatalf("staging reconciled %d, sent %d, found %d damaged; want nothing", res.Reconciled, res.ChunksSent, res.Damaged)
	}
	if got := reappearedOf(t, f.ledger); len(got) != 0 {
		t.Fatalf("confirmed as reappeared: %v; want none", got)
	}
	if _, ok := droppedOf(t, f.ledger)[xKey]; !ok {
		t.Fatalf("%s no longer remembered as dropped", xKey)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the damaged chunk at the site: %v; want it left there", err)
	}
}

// confirmedOnce checks that xKey, and it alone, was confirmed as
// reappeared, that the ledger remembers it dropped no more, and that the
// next staging confirms and sends nothing.
func confirmedOnce(t *testing.T, f *fixture, xKey string) {
	t.Helper()
	if got := reappearedOf(t, f.ledger); !slices.Equal(got, []string{xKey}) {
		t.Fatalf("chunks confirmed as reappeared: %v; want %s", got, xKey)
	}
	if got := droppedOf(t, f.ledger); len(got) != 0 {
		t.Fatalf("still remembered as dropped: %v", got)
	}
	res, err := f.stager().Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled != 0 || res.ChunksSent != 0 {
		t.Fatalf("a staging after: reconciled %d, sent %d; want nothing", res.Reconciled, res.ChunksSent)
	}
}

// reappearedOf lists the chunks the ledger's confirmations name as
// reappeared, in order.
func reappearedOf(t *testing.T, l Ledger) []string {
	t.Helper()
	recs, err := l.Records(context.Background(), "", KindTransfer)
	if err != nil {
		t.Fatal(err)
	}
	var back []string
	for _, r := range recs {
		var e Entry
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			t.Fatal(err)
		}
		back = append(back, e.Reappeared...)
	}
	return back
}

// droppedOf is what the ledger's view remembers as forgotten for the
// fixture's dataset at its site.
func droppedOf(t *testing.T, l Ledger) map[string]abandonedChunk {
	t.Helper()
	var got map[string]abandonedChunk
	if err := viewOf(context.Background(), l, "", func(v *view) { got, _ = v.droppedChunks(KindDataset, "chat-logs", "my-johor-1") }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestForgottenChunksRememberedWithinABound: the chunks a ledger forgets
// it still remembers (as dropped), up to maxDropped for a dataset at a
// site; a staging forgets no more than that leaves room for, and the
// rest stay abandoned, read by each reconcile, until there is room.
func TestForgottenChunksRememberedWithinABound(t *testing.T) {
	defer func(n int) { maxDropped = n }(maxDropped)
	maxDropped = 2
	f := newFixture(t, 1, 10<<10, "")
	ctx := context.Background()
	e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: "my-johor-1", From: "CN", To: "MY", AsOf: "2026-01-14"}
	var objs []Object
	var keys []string
	for i := range 5 {
		ch := dataset.ChunkRef{ID: seal.ID{0xee, byte(i)}, Size: 1000}
		objs = append(objs, Object{Key: dataset.ChunkKey("chat-logs", ch.ID), Bytes: int64(seal.SealedSize(1000)), Chunk: &ch})
		keys = append(keys, objs[i].Key)
	}
	if err := f.ledger.Append(ctx, "", KindAbandoned, "", Abandoned{Intent: "i0", Dataset: e.Dataset, Site: e.Site,
		Missing: keys, Reason: "interrupted", Chunks: objs, Entry: &e}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.stager().Stage(ctx, f.request()); err != nil {
			t.Fatal(err)
		}
		if got, ab := droppedOf(t, f.ledger), rememberedChunks(t, f.ledger); len(got) != 2 || len(ab) != 3 {
			t.Fatalf("%d chunks dropped and %d abandoned; want 2 and 3", len(got), len(ab))
		}
	}
	if n := recordsOf(t, f.ledger, KindForgotten); n != 1 {
		t.Fatalf("%d records forgetting chunks; want 1, of 2 chunks", n)
	}
	// A chunk dropped that a new intent names is no longer remembered:
	// that intent's records say what became of it, and there is room.
	in := Intent{ID: "i1", Entry: e, Objects: objs[:1]}
	if err := f.ledger.Append(ctx, "", KindIntent, "", in); err != nil {
		t.Fatal(err)
	}
	if err := f.ledger.Append(ctx, "", KindAbandoned, "", Abandoned{Intent: "i1", Dataset: e.Dataset, Site: e.Site,
		Missing: keys[:1], Reason: "interrupted", Chunks: objs[:1], Entry: &e}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	if got, ab := droppedOf(t, f.ledger), rememberedChunks(t, f.ledger); len(got) != 2 || len(ab) != 3 {
		t.Fatalf("after another chunk was abandoned: %d chunks dropped and %d abandoned; want 2 and 3", len(got), len(ab))
	}
}
