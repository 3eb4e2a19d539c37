package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// TestStagingRefusedOnRuleEveLeavesTheSite: a rule forbids data in
// Singapore from 11 June. A run placed at alpha (SG) on the 10th, when
// the 11th has begun nowhere, stages its data at 20:00 UTC (the Stager's
// clock), when it has begun east of UTC+4: the Stager refuses on the
// 11th. That refusal is the site's, on a day that is not yet the UTC day,
// and it failed the run for good. The run leaves alpha instead.
func TestStagingRefusedOnRuleEveLeavesTheSite(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC)}
	stagerClk := &clock{t: time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC)}
	e, rs := lawEnv(t, func(c *Config) { c.Now, c.Stager.Now, c.MoveMargin = clk.Now, stagerClk.Now, time.Minute })
	ctx := context.Background()
	p := transferRule("test-no-sg-data-from-june-11", "No data in SG from 11 June", "deny", "2026-06-11", "transfer.to == 'SG'", "")
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{p}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := dataset.TenantKeyrings{Root: e.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	res := addDataset(t, e.dir, keys, testData{name: "people", origin: "MY", class: catalog.ClassPublic, stored: true})
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(60, 10, []string{"people"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("placed at %s at 09:00 UTC; want alpha (SG), lawful until the 11th", r.Site)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := e.c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == Failed {
			t.Fatalf("the run failed: %s; want it to leave alpha", got.Reason)
		}
		if hasEvent(e.events(r.ID), "law-move", "test-no-sg-data-from-june-11") {
			break
		}
		if got.State.Final() || time.Now().After(deadline) {
			t.Fatalf("the run %s (%s) did not leave alpha:\n%s", got.State, got.Reason, strings.Join(e.events(r.ID), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
