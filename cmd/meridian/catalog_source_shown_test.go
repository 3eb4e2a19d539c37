package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
)

// privateSite is a catalog file of one site kept for another organisation,
// so that every plan of the test's job rejects it citing a field of its
// document.
const privateSite = `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: sg-kept}
spec:
  country: SG
  city: Singapore
  location: {lat: 1.30, lon: 103.80}
  operator: {name: demo-dc, headquarters: SG}
  access: private
  accessOrganizations: [someone-else]
  pools:
    - {accelerator: nvidia-h100-sxm, count: 16, available: 8, pricePerHour: 1.00, priceSource: "illustrative value for the test", acquired: 2024-06-01, owner: operator}
  network: {egressPerGB: 0.08, gbps: 10}
  backend: {type: local}
  source: "test site; illustrative"
`

// TestServeCatalogSourcesShownRelative: a plan's rejections cite the
// catalog file and line of the site field they come from. A server read
// its catalog by the paths it keeps it at, so every plan a tenant read
// (POST /v1/plans, the 422 of a submit placed nowhere) named the server's
// own filesystem layout. Now the server's catalog files are named
// catalog/FILE: the tenant still learns which file and line, not where
// the server keeps them.
func TestServeCatalogSourcesShownRelative(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p := newServeProc(t)
	p.cat = filepath.Join(t.TempDir(), "srv-layout-catalog")
	if err := os.MkdirAll(filepath.Join(p.cat, "asia"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.cat, "asia", "sites.yaml"), []byte(privateSite), 0o644); err != nil {
		t.Fatal(err)
	}
	// A site whose only pool is taken: its rejection cites the pool's
	// field, found by parsing the document again (Position.AtAll).
	full := strings.NewReplacer("sg-kept", "sg-full", "access: private", "access: public-rental", "  accessOrganizations: [someone-else]\n", "",
		"available: 8", "available: 0").Replace(privateSite)
	if err := os.WriteFile(filepath.Join(p.cat, "full.yaml"), []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	p.start()
	defer p.stop()
	ctx := context.Background()
	job := []run.Document{{Name: "job.yaml", Content: jobFor("lab", "SG", nil, "true")}}

	plan, err := p.c.Plan(ctx, run.PlanRequest{Documents: job}, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(plan)
	if strings.Contains(string(b), p.cat) {
		t.Errorf("the plan names the server's catalog directory %s:\n%s", p.cat, b)
	}
	var sources []string
	for _, r := range plan.Rejected {
		for _, why := range r.Reasons {
			sources = append(sources, why.Source)
		}
	}
	for _, want := range []string{"catalog/asia/sites.yaml:9 Site/sg-kept spec.access", "catalog/full.yaml:11 Site/sg-full spec.pools[0].available"} {
		if !containsString(sources, want) {
			t.Errorf("rejections cite %q, want %q among them", sources, want)
		}
	}

	// Placed nowhere (kept out of the full site), a submission is
	// refused with the plan's first reason.
	only := []run.Document{{Name: "job.yaml", Content: strings.Replace(job[0].Content, "  tokens: 1.0e6\n", "  tokens: 1.0e6\n  constraints: {sites: {allow: [sg-kept]}}\n", 1)}}
	_, err = p.c.Submit(ctx, run.SubmitRequest{Documents: only})
	if statusOf(err) != 422 || strings.Contains(err.Error(), p.cat) {
		t.Errorf("submit placed nowhere: %v; want a 422 not naming %s", err, p.cat)
	}
}
