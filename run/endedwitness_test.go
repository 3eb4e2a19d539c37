package run

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// endedWitnessedRun is a cancelled run of a witnessed controller's, as its GET
// reads it.
func endedWitnessedRun(tb testing.TB, wrap func(store.Store) store.Store) (*Controller, *Run) {
	tb.Helper()
	ctx := context.Background()
	f := newLawCheckFixture(tb, wrap)
	c := f.witnessed(f.wrapped)
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Cancel(ctx, "t1", r.ID); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Step(ctx, r.ID); err != nil {
		tb.Fatal(err)
	}
	if r, err = c.Get(ctx, "t1", r.ID); err != nil || !r.State.Final() || len(r.Documents) == 0 {
		tb.Fatalf("the run: %+v, %v; want it ended, with its documents", r, err)
	}
	// What a server keeps of live runs only is dropped, as the loop's
	// pass drops it once the run ends.
	c.runWitness.prune(nil)
	return c, r
}

// BenchmarkEndedRunShown is the confirmation one GET of an ended run
// makes (GET /v1/runs/{id}): its documents against its submission's
// sealed record.
func BenchmarkEndedRunShown(b *testing.B) {
	c, r := endedWitnessedRun(b, func(st store.Store) store.Store { return st })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if why := c.ChangedOutsideMeridian(ctx, r, true); why != "" {
			b.Fatal(why)
		}
	}
}

// TestEndedRunConfirmedOnce: each GET of an ended run read a page of its
// plan records from the audit log again (the digest its submission's
// sealed record names is kept only while the run is live), however often
// it was asked. The digest of an ended run is now kept (the record never
// changes): its next GET reads no record, and its row is still hashed
// against it, so a row changed since is still marked.
func TestEndedRunConfirmedOnce(t *testing.T) {
	ctx := context.Background()
	var reads *countReads
	c, r := endedWitnessedRun(t, func(st store.Store) store.Store { reads = &countReads{Store: st}; return reads })
	if why := c.ChangedOutsideMeridian(ctx, r, true); why != "" {
		t.Fatalf("the ended run as written: %s", why)
	}
	before := reads.n
	for range 3 {
		if why := c.ChangedOutsideMeridian(ctx, r, true); why != "" {
			t.Fatalf("the ended run as written: %s", why)
		}
	}
	if reads.n != before {
		t.Errorf("3 more GETs of an ended run read %d pages of the audit log; want none", reads.n-before)
	}
	changed := *r
	changed.Documents = append([]Document(nil), r.Documents...)
	changed.Documents[0].Content += "\n# changed\n"
	if why := c.ChangedOutsideMeridian(ctx, &changed, true); !strings.Contains(why, "changed outside Meridian") {
		t.Errorf("the ended run's documents changed: %q; want it marked", why)
	}
}
