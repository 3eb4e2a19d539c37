package policy

import (
	"sort"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestBuiltinCatalog runs the built-in rules over every pool of the
// built-in catalog for a US and a China-headquartered organisation. It
// checks the catalog gives the rules the facts they need: a denial that
// says a fact could not be determined is listed, and only accelerators whose
// TPP the catalog marks unknown may cause one.
func TestBuiltinCatalog(t *testing.T) {
	world, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	orgs := []*catalog.Organization{
		{Metadata: catalog.Metadata{Name: "us-org"}, Spec: catalog.OrganizationSpec{Headquarters: "US"}},
		{Metadata: catalog.Metadata{Name: "cn-org"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}},
	}
	unknown := map[string]bool{}
	for _, o := range orgs {
		s, err := e.Session(Query{AsOf: catalog.MustDate("2026-06-01"), Org: o, TrainingFLOPs: 1e22,
			Job: &catalog.TrainingJob{Metadata: catalog.Metadata{Name: "j"}}, Countries: world.Countries})
		if err != nil {
			t.Fatal(err)
		}
		for _, site := range world.Sites {
			for i := range site.Spec.Pools {
				p := &site.Spec.Pools[i]
				d := s.Evaluate(site, p, world.Accelerators[p.Accelerator])
				for _, f := range append(d.Denials, d.Advisories...) {
					if strings.Contains(f.Message, "could not determine") {
						unknown[p.Accelerator+" at "+site.Metadata.Name+": "+f.Message] = true
						if a := world.Accelerators[p.Accelerator]; a != nil && a.TPP.Known() && a.PerformanceDensity.Known() {
							t.Errorf("%s at %s has TPP and PD, yet: %s", p.Accelerator, site.Metadata.Name, f.Message)
						}
					}
				}
			}
		}
	}
	var list []string
	for k := range unknown {
		list = append(list, k)
	}
	sort.Strings(list)
	for _, k := range list {
		t.Log(k)
	}
}
