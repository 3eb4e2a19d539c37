package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/catalogtest"
	"meridian.dev/meridian/store"
)

// hugePlanSites is how many one-pool sites make a plan whose placements
// alone are over what an audit entry may hold.
const hugePlanSites = catalogtest.HugePlanSites

// hugePlanController is a controller over a catalog of hugePlanSites
// runnable sites, each of which a tiny job may use.
func hugePlanController(t *testing.T) (*Controller, store.Store) {
	t.Helper()
	st, dir := testStore(t)
	cat := catalogtest.WriteSites(t, dir, hugePlanSites)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: cat,
		Plan: catalogtest.Plan, Backends: catalogtest.Backends})
	return c, st
}

// TestSubmitPlanTooLargeForRecord: a job whose plan is over what a plan
// record may hold even without its rejections (thousands of lawful
// placements) is refused as the request's to mend, naming the job's
// constraints, the placements and the size against the bound, before
// anything is written: no run, no audit entry. The plan was recorded
// without its rejections and the store then refused the audit append, an
// internal error that named no field.
func TestSubmitPlanTooLargeForRecord(t *testing.T) {
	c, st := hugePlanController(t)
	ctx := context.Background()
	seq, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("submit of a job with %d lawful placements: run %v, error %v; want an InputError", hugePlanSites, r, err)
	}
	msg := err.Error()
	t.Logf("refused: %s", msg)
	for _, want := range []string{"spec.constraints", fmt.Sprint(hugePlanSites, " placements"), fmt.Sprint(maxPlanRecordBytes)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	runs, err := st.ListRuns(ctx, store.ListOptions{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 || after != seq {
		t.Errorf("after the refusal: %d runs, audit head %d (was %d); want nothing written", len(runs), after, seq)
	}
}
