package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// ownerShownPack's rules fire on, or fail on, a pool's owner by name, and
// their messages, obligations and definitions show it.
const ownerShownPack = `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: t}
definitions:
  - name: ownerLabel
    expr: "'leased from ' + owner.name"
    source: test
  - name: foreignOwner
    expr: "pool.ownerKind == 'organization'"
    source: test
rules:
  - id: listed-owner
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "pool owner {owner.name} ({pool.owner}, {def.ownerLabel}, foreign {def.foreignOwner}) is a restricted party"
    condition: owner.name in ['a/secret-lab', 'secret-lab']
  - id: licensed-owner
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "chips of {owner.name}"
    condition: owner.name.endsWith('secret-lab')
    liftedBy:
      licence: true
      obligation: "keep the licence for {pool.owner}'s chips"
  - id: owner-number
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "owner {site.name}"
    condition: timestamp(owner.name) > timestamp('2020-01-01T00:00:00Z')
`

// TestOtherTenantsOwnerNotShown: the law gate's findings showed a pool's
// owner as the operator's catalog names it, so tenant b, planning on a
// pool that tenant a's organisation owns, read "a/secret-lab" in a
// denial's message, a lifted denial's obligation, a definition's value and
// a failed condition's error. Tenant b now reads another tenant's
// organisation there, while the rules still judge the real owner (the
// restricted-party rule still denies); tenant a reads its own name.
func TestOtherTenantsOwnerNotShown(t *testing.T) {
	e, err := New(Options{Files: []File{{Name: "t.yaml", Data: []byte(ownerShownPack)}}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	org := func(name string) *catalog.Organization {
		o := &catalog.Organization{Spec: catalog.OrganizationSpec{Headquarters: "SG",
			Licenses: []catalog.License{{Rule: "licensed-owner"}}}}
		o.Metadata.Name = name
		return o
	}
	site := &catalog.Site{Spec: catalog.SiteSpec{Country: "SG", Operator: catalog.Operator{Name: "dc", Headquarters: "SG"},
		Access: catalog.AccessPrivate, AccessOrganizations: []string{"a/secret-lab", "b/ops"}}}
	site.Metadata.Name = "sg-private"
	acc := w.Accelerators["nvidia-h100-sxm"]
	pool := &catalog.Pool{Accelerator: acc.ID, Count: 8, Owner: "organization:a/secret-lab"}
	plan := func(tenant, name string) (Decision, string) {
		t.Helper()
		q := Query{AsOf: catalog.MustDate("2026-06-01"), Tenant: tenant, Org: org(name), Countries: w.Countries,
			Organizations: map[string]*catalog.Organization{name: org(name)}}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(site, pool, acc)
		if u := s.evaluate(site, pool, acc); !reflect.DeepEqual(d, u) {
			t.Errorf("tenant %s: cached %+v, uncached %+v", tenant, d, u)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return d, string(out)
	}
	d, out := plan("b", "ops")
	// The rules judged the real owner: listed, licensed, not a number.
	if f := findRule(d.Denials, "listed-owner"); f == nil || f.Code != CodeDenied {
		t.Errorf("tenant b: the restricted owner is not denied: %s", out)
	}
	if f := findRule(d.Obligations, "licensed-owner"); f == nil {
		t.Errorf("tenant b: no lifted obligation for the owner: %s", out)
	}
	if f := findRule(d.Denials, "owner-number"); f == nil || f.Code != CodeUndetermined {
		t.Errorf("tenant b: the owner's name as a number did not fail closed: %s", out)
	}
	if strings.Contains(out, "secret-lab") || strings.Contains(out, "a/") {
		t.Errorf("tenant b reads tenant a's organisation: %s", out)
	}
	for _, want := range []string{
		"pool owner (another tenant's organisation) (organization:(another tenant's organisation), (another tenant's organisation), foreign true)",
		"keep the licence for organization:(another tenant's organisation)'s chips",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tenant b: %s\nwant %q", out, want)
		}
	}
	// The default tenant's organisation, named without a tenant: another
	// tenant's to b, the command line's own.
	pool.Owner = "organization:secret-lab"
	if d, out = plan("b", "ops"); strings.Contains(out, "secret-lab") || findRule(d.Denials, "listed-owner") == nil || len(d.Obligations) != 1 {
		t.Errorf("tenant b, a pool of the default tenant's secret-lab: %s", out)
	}
	if _, out = plan("", "secret-lab"); !strings.Contains(out, "pool owner secret-lab (organization:secret-lab, leased from secret-lab, foreign false)") ||
		!strings.Contains(out, `timestamp \"secret-lab\"`) {
		t.Errorf("the command line's own: %s", out)
	}
	pool.Owner = "organization:a/secret-lab"
	// Tenant a reads its own organisation by name.
	_, out = plan("a", "secret-lab")
	for _, want := range []string{"pool owner secret-lab (organization:a/secret-lab, leased from secret-lab, foreign false)",
		"keep the licence for organization:a/secret-lab's chips"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenant a: %s\nwant %q", out, want)
		}
	}
}
