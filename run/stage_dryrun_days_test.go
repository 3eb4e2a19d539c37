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

// TestStageDatasetDryRunJudgesEveryDayOnEarth: a dry run of a staging for
// today asked the law on the UTC day alone, while the staging asks on
// every date it is somewhere on Earth: at 11:00 UTC on 10 June a rule in
// force from the 11th already holds east of UTC+13, and the staging is
// refused, but the dry run answered "allowed". It now judges as the
// staging does, naming the day that refused; a dry run asked about another
// date (AsOf) judges that date alone.
func TestStageDatasetDryRunJudgesEveryDayOnEarth(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)}
	e, rs := lawEnv(t, func(c *Config) { c.Now, c.Stager.Now = clk.Now, clk.Now })
	ctx := context.Background()
	p := transferRule("test-no-sg-data-from-june-11", "No data in SG from 11 June", "deny", "2026-06-11", "transfer.to == 'SG'", "")
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{p}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := dataset.TenantKeyrings{Root: e.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	ds := addDataset(t, e.dir, keys, testData{name: "people", origin: "MY", class: catalog.ClassPublic, stored: true})
	if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "res.yaml", Content: ds}}, false); err != nil {
		t.Fatal(err)
	}
	dry := func(asOf string) *StageResult {
		t.Helper()
		res, err := e.c.StageDataset(ctx, "t1", "people", StageRequest{Site: "alpha", DryRun: true, AsOf: asOf})
		if err != nil {
			t.Fatalf("dry run (asOf %q): %v", asOf, err)
		}
		return res
	}
	res := dry("")
	if res.Allowed || res.AsOf != "2026-06-11" || len(res.Decision.Denials) == 0 || res.Decision.Denials[0].Rule != "test-no-sg-data-from-june-11" ||
		!strings.Contains(res.Decision.Denials[0].Message, "2026-06-11") {
		t.Errorf("dry run at 11:00 UTC on the 10th: allowed %v as of %s, %+v; want it refused as of the 11th by the rule, saying so", res.Allowed, res.AsOf, res.Decision.Denials)
	}
	if res := dry("2026-06-10"); !res.Allowed {
		t.Errorf("dry run asked about the 10th: %+v, want it allowed", res.Decision)
	}
	clk.mu.Lock()
	clk.t = time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC)
	clk.mu.Unlock()
	if res := dry(""); !res.Allowed || res.AsOf != "2026-06-10" {
		t.Errorf("dry run at 09:00 UTC on the 10th, the 11th begun nowhere: %+v as of %s, want it allowed", res.Decision, res.AsOf)
	}
}
