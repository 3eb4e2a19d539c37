package run

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/store"
)

// TestSweepScanReachesLastPageWhileFactsChange: the scan of ended runs for
// left sites to sweep reads a page a tick. A registered document updated
// more often than the scan took to read every page started it over from
// the first page each time, and the ended runs past it were never found:
// checkpoints at sites the law no longer lets them be stayed there. Now
// a change met mid-scan lets the scan read on to its end, then start it
// over.
func TestSweepScanReachesLastPageWhileFactsChange(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	last := ""
	for i := range 2*sweepScanPage + 10 {
		id := fmt.Sprintf("run-zz%010x", i)
		data := []byte(`{}`)
		if i == 2*sweepScanPage+9 {
			data, last = []byte(`{"swept":[{"site":"alpha"}]}`), id
		}
		if _, _, err := f.c.cfg.Store.CreateRun(ctx, &store.Run{ID: id, Tenant: f.r.Tenant, Job: f.r.Job, State: string(Failed), Data: data}, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	f.c.cfg.Workers = 0 // found, not swept: what the scan found stays listed
	for range 6 {
		f.c.factsSeq.Add(1) // a registered document updated each tick
		f.c.sweepEnded(ctx)
	}
	f.c.mu.Lock()
	_, found := f.c.sweepWait[last]
	f.c.mu.Unlock()
	if !found {
		t.Errorf("after 6 ticks (a scan of 3 pages), the ended run %s on the last page with a left site to sweep was never found", last)
	}
}
