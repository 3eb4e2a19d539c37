package transfer

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestAttackSiteRelistsDamagedChunksChanged: a site lists the chunks the
// ledger remembers for the dataset, none of which the manifest names,
// damaged, with a new time at every listing, so that none is ever listed
// as it failed: every staging read up to MaxReshownReads of them again,
// for ever. Now one that failed twice (its first read and one more) is
// read by no staging, however the site lists it; none is confirmed.
func TestAttackSiteRelistsDamagedChunksChanged(t *testing.T) {
	for _, forgotten := range []bool{true, false} {
		name := "abandoned"
		if forgotten {
			name = "forgotten"
		}
		t.Run(name, func(t *testing.T) {
			const n = 20
			f, m := damagedSite(t)
			keys := plantDamagedForgotten(t, f.ledger, f.site.Metadata.Name, m, n, forgotten)
			ctx := context.Background()
			perKey := map[string]int{}
			var reads []int
			for range 5 {
				m.mu.Lock()
				for _, k := range keys {
					m.mod[k] = m.modOf(k).Add(time.Second)
				}
				m.mu.Unlock()
				res, err := f.stager().Stage(ctx, f.request())
				if err != nil {
					t.Fatal(err)
				}
				if res.Reconciled != 0 || res.Damaged != 0 {
					t.Fatalf("staging reconciled %d and found %d damaged; want none", res.Reconciled, res.Damaged)
				}
				m.mu.Lock()
				got := 0
				for _, k := range keys {
					perKey[k] += m.gets[k]
					got += m.gets[k]
				}
				clear(m.gets)
				m.mu.Unlock()
				reads = append(reads, got)
			}
			for _, k := range keys {
				if perKey[k] > maxShownFails {
					t.Fatalf("%s read %d times over 5 stagings (reads per staging %v); want at most %d", k, perKey[k], reads, maxShownFails)
				}
			}
			if reads[len(reads)-1] != 0 {
				t.Fatalf("reads per staging %v; want none by the last", reads)
			}
			if got := reappearedOf(t, f.ledger); len(got) != 0 {
				t.Fatalf("confirmed as reappeared: %v; want none", got)
			}
			t.Logf("reads of %d damaged chunks relisted changed, per staging: %v", n, reads)
		})
	}
}

// plantSealedChunk records a chunk of dataset chat-logs at f's site, that
// no manifest names, as abandoned and (with forget) forgotten in f's
// ledger, and has the site (m) hold it damaged. It returns its key and
// the bytes it holds intact.
func plantSealedChunk(t *testing.T, f *fixture, m *memS3, forget bool) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	key, err := f.keys.Get("chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(key, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("a chunk no manifest names "), 40)
	id := s.ChunkID(plain)
	intact, err := s.Seal(nil, id, plain)
	if err != nil {
		t.Fatal(err)
	}
	ch := dataset.ChunkRef{ID: id, Size: int64(len(plain))}
	o := Object{Key: dataset.ChunkKey("chat-logs", id), Bytes: int64(len(intact)), Chunk: &ch}
	e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: f.site.Metadata.Name, From: "CN", To: "MY", AsOf: "2026-01-15"}
	if err := f.ledger.Append(ctx, "", KindAbandoned, "", Abandoned{Intent: "old-sealed", Dataset: e.Dataset, Site: e.Site,
		Missing: []string{o.Key}, Reason: "interrupted", Chunks: []Object{o}, Entry: &e}); err != nil {
		t.Fatal(err)
	}
	if forget {
		if err := f.ledger.Append(ctx, "", KindForgotten, "", Forgotten{Kind: KindDataset, Dataset: e.Dataset, Site: e.Site,
			Chunks: []string{o.Key}, Reason: "gone"}); err != nil {
			t.Fatal(err)
		}
	}
	bad := bytes.Clone(intact)
	bad[len(bad)/2] ^= 1
	m.mu.Lock()
	m.objs[o.Key] = bad
	m.mu.Unlock()
	return o.Key, intact
}

// TestSpentChunkIntactLaterIsConfirmed: a chunk no manifest names that
// failed twice at the site was read by no staging again, however the
// site listed it: one the site held intact later (a new write, listed
// changed) was never confirmed, bytes at the site that no record counts.
// Now it rests (ShownRest, doubling with each failure after) and is read
// again, the site listing it changed: confirmed once intact. Beside it,
// a site that lists every other such chunk damaged, with a new time at
// every listing, a staging a day for 30 days, costs at most maxLateReads
// reads a staging once each has failed twice, and each chunk at most 4
// more reads (rests of 1, 2, 4 and 8 days, the next ends past day 30).
func TestSpentChunkIntactLaterIsConfirmed(t *testing.T) {
	for _, forgotten := range []bool{false, true} {
		name := "abandoned"
		if forgotten {
			name = "forgotten"
		}
		t.Run(name, func(t *testing.T) {
			old := maxLateReads
			maxLateReads = 4
			t.Cleanup(func() { maxLateReads = old })
			const n, days, mendedOn = 20, 30, 3
			f, m := damagedSite(t)
			keys := plantDamagedForgotten(t, f.ledger, f.site.Metadata.Name, m, n, forgotten)
			x, intact := plantSealedChunk(t, f, m, forgotten)
			all := append(slices.Clone(keys), x)
			ctx := context.Background()
			perKey := map[string]int{}
			var reads []int
			confirmedOn := -1
			for d := range days {
				m.mu.Lock()
				if d == mendedOn {
					m.objs[x] = intact
				}
				for _, k := range all {
					m.mod[k] = m.modOf(k).Add(time.Second)
				}
				m.mu.Unlock()
				s := f.stager()
				s.Now = func() time.Time { return testDay.Add(time.Duration(d) * 24 * time.Hour) }
				if _, err := s.Stage(ctx, f.request()); err != nil {
					t.Fatalf("day %d: %v", d, err)
				}
				m.mu.Lock()
				got := 0
				for _, k := range all {
					perKey[k] += m.gets[k]
					got += m.gets[k]
				}
				clear(m.gets)
				m.mu.Unlock()
				reads = append(reads, got)
				if d >= maxShownFails && got > maxLateReads {
					t.Fatalf("day %d: %d reads of chunks that failed twice (reads per staging %v); want at most %d", d, got, reads, maxLateReads)
				}
				if confirmedOn < 0 && slices.Contains(reappearedOf(t, f.ledger), x) {
					confirmedOn = d
				}
			}
			t.Logf("reads per staging: %v; the mended chunk confirmed on day %d", reads, confirmedOn)
			if confirmedOn < mendedOn {
				t.Fatalf("the chunk the site held intact from day %d was confirmed on day %d; want it confirmed then or later, not never or before", mendedOn, confirmedOn)
			}
			if got := reappearedOf(t, f.ledger); !slices.Equal(got, []string{x}) {
				t.Fatalf("confirmed as reappeared: %v; want %s alone", got, x)
			}
			for _, k := range keys {
				if perKey[k] > maxShownFails+4 {
					t.Fatalf("%s read %d times over %d stagings; want at most %d", k, perKey[k], days, maxShownFails+4)
				}
			}
		})
	}
}
