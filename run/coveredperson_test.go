package run

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
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

// TestStagingsAddUpToBulk: through the server, a China-headquartered lab
// stages 9,999 US health records at a US site (inside the DOJ band), then
// another 9,999. Neither left the US, but the lab was given both within 12
// months, so the ledger (the audit log, as the server reads it) makes the
// second bulk: refused, and nothing of it is staged. Before, each staging
// was judged on its own dataset and both went through.
func TestStagingsAddUpToBulk(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	set, err := catalog.Decode("us.yaml", []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: us-test}
spec:
  country: US
  location: {lat: 39.0, lon: -77.5}
  operator: {name: test-dc, headquarters: US}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 1.0, priceSource: "test value"}]
  network: {egressPerGB: 0.05, gbps: 10}
  backend: {type: local}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := f.stagingController(func(cfg *Config) {
		cfg.Exports = transfer.AuditExports(f.st)
		cfg.ExtraSites = set.Sites
	})
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	docs := "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: CN\n"
	for _, name := range []string{"health-a", "health-b"} {
		docs += addDataset(t, f.dir, keys, testData{name: name, origin: "US", class: catalog.ClassSensitivePersonal, subjects: 9999, stored: true})
	}
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "res.yaml", Content: docs}}, false); err != nil {
		t.Fatal(err)
	}
	res, err := c.StageDataset(ctx, "t1", "health-a", StageRequest{Site: "us-test", Organization: "lab"})
	if err != nil {
		t.Fatalf("the first 9,999 are inside the band: %v", err)
	}
	if !slices.ContainsFunc(res.Decision.Advisories, func(f policy.Finding) bool { return f.Rule == "us-doj-dsp-2025" }) {
		t.Fatalf("the first 9,999 must draw the band's advisory: %+v", res.Decision)
	}
	_, err = c.StageDataset(ctx, "t1", "health-b", StageRequest{Site: "us-test", Organization: "lab"})
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("the second 9,999 within 12 months: %v, want a refusal", err)
	}
	i := slices.IndexFunc(de.Result.Decision.Denials, func(f policy.Finding) bool { return f.Rule == "us-doj-dsp-2025" })
	if i < 0 {
		t.Fatalf("denials %+v lack us-doj-dsp-2025", de.Result.Decision.Denials)
	}
	if m := de.Result.Decision.Denials[i].Message; !strings.Contains(m, "19998 sensitive-personal") || !strings.Contains(m, "health-a of lab: 9999 sensitive-personal, ledger, staged in US") {
		t.Errorf("the refusal does not show what the ledger counted: %q", m)
	}
	site, err := c.Site("us-test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.OpenStore(ctx, c.SiteStore(site))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if have, err := dataset.ListChunks(ctx, b.Sub(DataPrefix("t1")), "health-b"); err != nil || len(have) != 0 {
		t.Errorf("the refused dataset has %d chunks at the site (%v)", len(have), err)
	}
}
