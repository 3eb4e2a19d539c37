package run

import (
	"context"
	"runtime"
	"testing"

	"meridian.dev/meridian/store"
)

// TestActiveRunsKeepDocumentsOnce: what the controller keeps of each active
// run between its passes (the decoded run, the parsed world) holds a run's
// documents at most once more, not once in each cache: a tenant at
// Config.MaxRuns with large submissions made the server hold every byte of
// them twice over. A world dropped from its cache (an owner's update) is
// built again from the stored documents.
func TestActiveRunsKeepDocumentsOnce(t *testing.T) {
	const n, pad = 24, 512 << 10
	ctx := context.Background()
	c, _ := benchQueueOf(t, n, paddedJob("waiting", pad))
	c.mu.Lock()
	clear(c.decoded)
	clear(c.worlds)
	c.mu.Unlock()
	rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Active: true, Final: FinalStates, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	base := liveHeap()
	var runs []*Run
	for _, row := range rows {
		r, err := c.decodeRow(row)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.worldJob(r); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	held := liveHeap() - base
	runtime.KeepAlive(rows)
	// The world keeps its job's document text (catalog.Position): once.
	// Twice (the decoded run's copy too) is n*pad more than this bound.
	if limit := int64(n) * pad * 3 / 2; held > limit {
		t.Errorf("%d active runs of %d KiB documents hold %d KiB, more than %d KiB", n, pad>>10, held>>10, limit>>10)
	}
	c.mu.Lock()
	clear(c.worlds)
	c.mu.Unlock()
	for _, r := range runs {
		if _, job, err := c.worldJob(r); err != nil || job.Metadata.Name != r.Job {
			t.Fatalf("run %s: world again: %v, %v", r.ID, job, err)
		}
	}
}
