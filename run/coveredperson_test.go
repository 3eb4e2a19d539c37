package run

import (
	"os"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// TestLawCheckCoveredPersonAtHome: the law check of a live run (the one
// lawfulNow and the law tick make) judges the covered-person clause of
// 28 CFR 202 at a US site, where the US data does not move: a
// China-headquartered lab's placement is unlawful from 2025-04-08, and a
// run placed before then has that day, with the rule, as its horizon.
func TestLawCheckCoveredPersonAtHome(t *testing.T) {
	doc, err := os.ReadFile("../examples/us-health-cn-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := catalog.Decode("job.yaml", doc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := catalog.Assemble(planner.AssumptionKeys(), nil, set)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	law := planner.PolicyLaw(eng)
	job := w.Jobs[0]
	var site *catalog.Site
	for _, s := range w.Sites {
		if s.Spec.Country == "US" && len(s.Spec.Pools) > 0 {
			site = s
			break
		}
	}
	if site == nil {
		t.Fatal("the built-in catalog has no US site")
	}
	dec, err := placementLaw(w, job, site, 0, catalog.MustDate("2025-06-01"), law, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dec.Allowed || firstRule(dec) != "us-doj-dsp-2025" || dec.Denials[0].Code != policy.CodeDenied {
		t.Fatalf("at %s on 2025-06-01: %+v, want a denial by us-doj-dsp-2025", site.Metadata.Name, dec)
	}
	before := catalog.MustDate("2025-04-01")
	if dec, err := placementLaw(w, job, site, 0, before, law, nil); err != nil || !dec.Allowed {
		t.Fatalf("at %s on %s: %+v %v, want lawful before the rule", site.Metadata.Name, before, dec, err)
	}
	d, rule, err := horizon(w, job, site, 0, before, LawNow{Law: law, Dates: eng.Dates()})
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != "2025-04-08" || rule != "us-doj-dsp-2025" {
		t.Errorf("horizon from %s: %s by %q, want 2025-04-08 by us-doj-dsp-2025", before, d, rule)
	}
}
