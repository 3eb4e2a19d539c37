package transfer

import (
	"context"
	"testing"
	"time"
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
