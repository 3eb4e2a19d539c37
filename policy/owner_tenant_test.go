package policy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestOwnerIsTheTenantsOwn: a pool the operator's catalog gives to
// organization:lab is the default tenant's lab's; another tenant's
// organisation named lab is neither "self" there nor its owner's facts, and
// a rule that needs the owner's headquarters fails closed for it.
// organization:acme/lab is acme's lab.
func TestOwnerIsTheTenantsOwn(t *testing.T) {
	dir := t.TempDir()
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: t}
rules:
  - id: own-chips
    jurisdiction: ORG
    kind: org-policy
    effect: advisory
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "chips of {pool.owner}"
    condition: pool.ownerKind == 'self'
  - id: owner-in-cn
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "owner {owner.name} in CN"
    condition: owner.hq == 'CN'
`
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(pack), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Dirs: []string{dir}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	lab := &catalog.Organization{Spec: catalog.OrganizationSpec{Headquarters: "SG"}}
	lab.Metadata.Name = "lab"
	site := &catalog.Site{Spec: catalog.SiteSpec{Country: "SG", Operator: catalog.Operator{Name: "dc", Headquarters: "SG"}}}
	site.Metadata.Name = "s"
	acc := w.Accelerators["nvidia-h100-sxm"]
	rules := func(d Decision) (out []string) {
		for _, fs := range [][]Finding{d.Denials, d.Advisories} {
			for _, f := range fs {
				out = append(out, f.Rule+"/"+f.Code)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		owner, tenant string
		want          []string
	}{
		{"organization:lab", "", []string{"own-chips/"}},
		{"organization:lab", catalog.DefaultTenant, []string{"own-chips/"}},
		{"organization:acme/lab", "acme", []string{"own-chips/"}},
		// Another tenant's lab: not self, and its headquarters unknown.
		{"organization:lab", "acme", []string{"owner-in-cn/" + CodeUndetermined}},
		{"organization:zeta/lab", "acme", []string{"owner-in-cn/" + CodeUndetermined}},
	} {
		pool := &catalog.Pool{Accelerator: acc.ID, Count: 8, Owner: c.owner}
		q := Query{AsOf: catalog.MustDate("2026-06-01"), Tenant: c.tenant, Org: lab, Countries: w.Countries,
			Organizations: map[string]*catalog.Organization{"lab": lab}}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := rules(s.Evaluate(site, pool, acc)); !slices.Equal(got, c.want) {
			t.Errorf("pool of %s asked by tenant %q: %v, want %v", c.owner, c.tenant, got, c.want)
		}
	}
}

// TestOwnerWordsOutsideVocabularyFailClosed: a pool's owner, another of
// the tenant's organisations, is described by its own document. A
// restricted-party status or an attribute outside the vocabulary
// ("Entity-List", "CN-CIIO", from a caller that did not load it through
// the catalog) matched no rule's word, and a rule on listed owners read as
// not applying. The fact is now unknown, and such a rule fails closed.
func TestOwnerWordsOutsideVocabularyFailClosed(t *testing.T) {
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: t}
rules:
  - id: listed-owner
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "owner {owner.name} is listed"
    condition: owner.restricted == 'entity-list' || 'cn-ciio' in owner.attributes
`
	e, err := New(Options{Files: []File{{Name: "t.yaml", Data: []byte(pack)}}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	lab := &catalog.Organization{Spec: catalog.OrganizationSpec{Headquarters: "SG"}}
	lab.Metadata.Name = "lab"
	site := &catalog.Site{Spec: catalog.SiteSpec{Country: "SG", Operator: catalog.Operator{Name: "dc", Headquarters: "SG"}}}
	site.Metadata.Name = "s"
	acc := w.Accelerators["nvidia-h100-sxm"]
	pool := &catalog.Pool{Accelerator: acc.ID, Count: 8, Owner: "organization:other"}
	for _, c := range []struct {
		restricted string
		attributes []string
		want       string
	}{
		{catalog.RestrictedNone, nil, ""},
		{catalog.RestrictedEntityList, nil, CodeDenied},
		{"Entity-List", nil, CodeUndetermined},
		{"listed", nil, CodeUndetermined},
		{catalog.RestrictedNone, []string{"CN-CIIO"}, CodeUndetermined},
	} {
		other := &catalog.Organization{Spec: catalog.OrganizationSpec{Headquarters: "SG", RestrictedParty: c.restricted, Attributes: c.attributes}}
		other.Metadata.Name = "other"
		q := Query{AsOf: catalog.MustDate("2026-06-01"), Org: lab, Countries: w.Countries,
			Organizations: map[string]*catalog.Organization{"lab": lab, "other": other}}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(site, pool, acc)
		f := findRule(d.Denials, "listed-owner")
		switch {
		case c.want == "" && (f != nil || !d.Allowed):
			t.Errorf("owner %q %v: %+v, want allowed", c.restricted, c.attributes, d)
		case c.want != "" && (f == nil || f.Code != c.want || d.Allowed):
			t.Errorf("owner %q %v: %+v, want denied (%s)", c.restricted, c.attributes, d, c.want)
		}
	}
}
