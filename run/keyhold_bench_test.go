package run

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// heldRuns stores n held runs of tenant t0, copies of a submitted run
// (its plan, placement and attempt), run i held for the key of dataset
// ds-(i%datasets), each next try an hour away: a tenant at its bound on
// runs, every one waiting for one of its datasets' keys.
func heldRuns(b *testing.B, n, datasets int) (*Controller, store.Store) {
	b.Helper()
	ctx := context.Background()
	st, dir := testStore(b)
	c := New(sitesConfig(st, dir))
	first, _, err := c.Submit(ctx, "t0", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	start := time.Now()
	for i := 0; i < n; i++ {
		r := *first
		name := fmt.Sprintf("ds-%d", i%datasets)
		r.ID, r.State, r.Attempt, r.Site = fmt.Sprintf("run-%012x", i), Held, 1, "alpha"
		r.Attempts = []Attempt{{N: 1, Site: "alpha", Nonce: "0123456789abcdef"}}
		r.Hold = &Hold{Reason: keyHoldPrefix(1, "alpha", name) + "the server holds no key of dataset " + name + "; the run waits held rather than fail, and tries the staging again in 1h0m0s",
			Code: policy.CodeNotNow, Since: now, NextTry: now.Add(time.Hour), Tries: 1, KeyDataset: name}
		row, err := toRow(&r)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d held runs stored in %s", n, time.Since(start).Round(time.Millisecond))
	return c, st
}

// BenchmarkRetryKeyHolds is what a key sent (PutKey) costs to bring
// forward the runs held for it: 10,000 held runs of the tenant, held for
// the keys of 100 datasets (100 runs each) or of one other dataset
// each (one run of the key's).
func BenchmarkRetryKeyHolds(b *testing.B) {
	for _, datasets := range []int{100, 10000} {
		b.Run(fmt.Sprintf("datasets=%d", datasets), func(b *testing.B) {
			c, _ := heldRuns(b, 10000, datasets)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.retryKeyHolds(ctx, "t0", "ds-7"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
