package planner

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestDatasetAtSiteIsPlanned: a dataset whose spec.location is a site of
// the catalog (data staged or kept there) is judged from that site's
// country. The plan's law session must know the catalog's sites for that;
// without them every candidate failed closed on "not a known site".
func TestDatasetAtSiteIsPlanned(t *testing.T) {
	set, err := catalog.Decode("r.yaml", []byte(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: d}
spec: {origin: SG, classification: public, sizeBytes: 1000}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: j}
spec:
  organization: lab
  datasets: [d]
  model: {parameters: 1.0e9}
  method: pretrain
  tokens: 1.0e9
`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := catalog.Assemble(AssumptionKeys(), nil, set)
	if err != nil {
		t.Fatal(err)
	}
	var at *catalog.Site
	for _, s := range w.Sites {
		if s.Spec.Country == "SG" {
			at = s
			break
		}
	}
	if at == nil {
		t.Fatal("the catalog has no site in SG")
	}
	set.Datasets[0].Spec.Location = at.Metadata.Name
	p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2026-06-01")})
	if err != nil {
		t.Fatal(err)
	}
	for _, rj := range p.Rejected {
		for _, f := range rj.Reasons {
			if strings.Contains(f.Message, "is not a known site") {
				t.Fatalf("%s rejected: %s", rj.Site, f.Message)
			}
		}
	}
	if len(p.Placements) == 0 {
		t.Fatalf("no placement for a public dataset kept at %s (%d rejected)", at.Metadata.Name, len(p.Rejected))
	}
}
