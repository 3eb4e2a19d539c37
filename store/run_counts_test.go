package store

import (
	"context"
	"fmt"
	"testing"
)

// TestCountRunsBounded: whoever writes the database put runs at any
// number of sites, and the run counts (read at each scrape of the
// metrics) returned a row for each (state, site) pair: a million sites
// were a million rows each scrape. CountRuns now returns the
// MaxRunCounts pairs with the most runs, most first, then one row summing
// the rest, on either store.
func TestCountRunsBounded(t *testing.T) {
	const sites = MaxRunCounts + 76
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open.open(t)
			seed := func(id, state, site string) {
				r := &Run{ID: id, Tenant: "acme", Job: "j", State: state, Site: site, Data: []byte(`{}`)}
				if _, _, err := s.CreateRun(ctx, r, "", Change{}); err != nil {
					t.Fatal(err)
				}
			}
			// Five runs running at "big", three queued at "zz", then
			// one run queued at each of sites more.
			for i := 0; i < 5; i++ {
				seed(fmt.Sprint("big", i), "running", "big")
			}
			for i := 0; i < 3; i++ {
				seed(fmt.Sprint("zz", i), "queued", "zz")
			}
			q := fmt.Sprintf(`WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < %d)
				INSERT INTO runs (id, tenant, job, state, site, data, version, created_at, updated_at)
				SELECT 'm' || n, tenant, job, 'queued', 'site-' || n, data, version, created_at, updated_at FROM runs, i WHERE runs.id = 'zz0'`, sites)
			if err := exec(q); err != nil {
				t.Fatal(err)
			}
			got, err := s.CountRuns(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != MaxRunCounts+1 {
				t.Fatalf("%d rows for %d pairs; want %d", len(got), sites+2, MaxRunCounts+1)
			}
			if got[0] != (RunCount{State: "running", Site: "big", N: 5}) || got[1] != (RunCount{State: "queued", Site: "zz", N: 3}) {
				t.Errorf("the first rows: %+v, %+v; want the pairs with the most runs", got[0], got[1])
			}
			var total int64
			for i, c := range got {
				total += c.N
				if c.Other != (i == MaxRunCounts) {
					t.Errorf("row %d: %+v: Other %v", i, c, c.Other)
				}
				if i > 0 && i < MaxRunCounts && c.N > got[i-1].N {
					t.Errorf("row %d: %+v after %+v: not most first", i, c, got[i-1])
				}
			}
			other := got[MaxRunCounts]
			if want := (RunCount{State: OtherRunCount, Site: OtherRunCount, N: sites + 2 - MaxRunCounts, Other: true}); other != want {
				t.Errorf("the last row %+v; want %+v", other, want)
			}
			if total != sites+8 {
				t.Errorf("the rows sum to %d runs; want %d", total, sites+8)
			}
		})
	}
}
