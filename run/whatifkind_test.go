package run

import (
	"context"
	"encoding/json"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// TestWhatIfSaysWhichCopiesAreCheckpoints: what-if lists a run's
// checkpoint copy it would remove with kind checkpoint and its run, and a
// dataset's copy as before (no kind: a dataset's). A checkpoint was
// listed with its name where a dataset's is, and nothing told the two
// apart.
func TestWhatIfSaysWhichCopiesAreCheckpoints(t *testing.T) {
	var rs *rules.State
	// The move copies the checkpoint to bravo; the next step stages the
	// job's dataset there.
	f, _ := newStageFailFixture(t, rulesInForce(t, &rs))
	ctx := context.Background()
	if r := f.step(t); r.Staged != r.Attempt {
		t.Fatalf("after staging: %s, staged %d of attempt %d (%s)", r.State, r.Staged, r.Attempt, r.Reason)
	}
	_, eng, err := rs.Proposed(rules.Change{Files: []policy.File{transferPack("test-no-my", "No data to MY", "transfer.to == 'MY'", "")}})
	if err != nil {
		t.Fatal(err)
	}
	law := planner.PolicyLaw(eng)
	proposed := LawNow{Rev: rs.Current().Rev + 1, Law: law, Transfer: eng, Dates: eng.Dates()}
	plan := func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
	}
	rep, err := f.c.WhatIf(ctx, proposed, plan, f.c.today())
	if err != nil {
		t.Fatal(err)
	}
	// As the API sends it.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Copies []map[string]any `json:"copies"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var ck, ds map[string]any
	for _, cp := range got.Copies {
		switch cp["dataset"] {
		case f.ck.Name:
			ck = cp
		case "people":
			ds = cp
		}
	}
	if ck == nil || ck["kind"] != "checkpoint" || ck["run"] != f.r.ID || ck["site"] != "bravo" || ck["rule"] != "test-no-my" {
		t.Errorf("the checkpoint's copy: %v; want kind checkpoint, run %s, at bravo under test-no-my (all: %s)", ck, f.r.ID, b)
	}
	if ds == nil || ds["site"] != "bravo" || ds["rule"] != "test-no-my" {
		t.Fatalf("the dataset's copy: %v; want people at bravo under test-no-my (all: %s)", ds, b)
	}
	if _, ok := ds["kind"]; ok {
		t.Errorf("the dataset's copy names a kind: %v; want none, as before", ds)
	}
	if _, ok := ds["run"]; ok {
		t.Errorf("the dataset's copy names a run: %v", ds)
	}
}
