package run

import (
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// licencedDenyPack denies every site in country unless the organisation
// holds a licence naming the rule.
func licencedDenyPack(id, country string) policy.File {
	f := denyPack(id, country, "2020-01-01")
	f.Data = append(f.Data, []byte("    liftedBy: {licence: true}\n")...)
	return f
}

// TestHorizonEndsAtLicenceExpiry: a placement that is lawful only because
// a licence lifts a rule's denial stops being lawful the day after that
// licence expires, though no rule changes then; the run's horizon names
// that day, so the run moves before it rather than running on unlicensed.
func TestHorizonEndsAtLicenceExpiry(t *testing.T) {
	eng, err := policy.New(policy.Options{NoBuiltin: true, Files: []policy.File{licencedDenyPack("test-no-sg", "SG")}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := BuildWorld("testdata/sites", []Document{{Name: "job.yaml", Content: `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec:
  headquarters: SG
  licenses:
    - {rule: test-no-sg, expires: 2026-06-15}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: tiny}
spec:
  organization: lab
  model: {parameters: 7.0e9}
  method: pretrain
  tokens: 1.0e12
`}})
	if err != nil {
		t.Fatal(err)
	}
	job := w.Jobs[0]
	site := w.Site("alpha")
	ln := LawNow{Law: planner.PolicyLaw(eng), Dates: eng.Dates()}
	asOf := catalog.MustDate("2026-06-01")
	dec, err := placementLaw(w, job, site, 0, asOf, ln.Law, nil)
	if err != nil || !dec.Allowed {
		t.Fatalf("with the licence in force the placement is not lawful: %+v %v", dec, err)
	}
	dec, err = placementLaw(w, job, site, 0, catalog.MustDate("2026-06-16"), ln.Law, nil)
	if err != nil || dec.Allowed {
		t.Fatalf("the day after the licence expires the placement is still lawful: %+v %v", dec, err)
	}
	d, rule, err := horizon(w, job, site, 0, asOf, ln)
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != "2026-06-16" || rule != "test-no-sg" {
		t.Errorf("horizon %q (rule %q), want 2026-06-16 (test-no-sg): the run would go on past its licence", d, rule)
	}
	// The plan (the run lasts months) gives the placement the same horizon.
	plan, err := planner.Make(w, job, planner.Options{AsOf: asOf, Rules: ln.Law})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pc := range plan.Placements {
		if pc.Site == "alpha" {
			found = true
			if pc.LawfulUntil == nil || pc.LawfulUntil.String() != "2026-06-16" {
				t.Errorf("plan places alpha lawful until %v, want 2026-06-16", pc.LawfulUntil)
			}
		}
	}
	if !found {
		t.Errorf("alpha is not among the placements: %+v", plan.Rejected)
	}
}
