package catalog

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestNamesOrg: a name in the operator's catalog names one tenant's
// organisation; another tenant's organisation of the same name is not it.
func TestNamesOrg(t *testing.T) {
	for _, c := range []struct {
		ref, tenant, org string
		want             bool
	}{
		{"lab", "", "lab", true},
		{"lab", DefaultTenant, "lab", true},
		{"lab", "acme", "lab", false},
		{"acme/lab", "acme", "lab", true},
		{"acme/lab", "zeta", "lab", false},
		{"acme/lab", "", "lab", false},
		{"acme/lab", "acme", "acme/lab", false},
		{"default/lab", "", "lab", true},
		{"lab", "acme", "other", false},
	} {
		if got := NamesOrg(c.ref, c.tenant, c.org); got != c.want {
			t.Errorf("NamesOrg(%q, %q, %q) = %v, want %v", c.ref, c.tenant, c.org, got, c.want)
		}
	}
	s := &Site{Spec: SiteSpec{Access: AccessPrivate, AccessOrganizations: []string{"lab"}}}
	s.Metadata.Name = "p"
	if ok, _ := s.UsableBy("", "lab", false); !ok {
		t.Error("the command line's lab cannot use a site private to lab")
	}
	ok, why := s.UsableBy("acme", "lab", false)
	if ok || why != "site p is private to 1 organisation of another tenant (a name without a tenant is tenant default's organisation; the operator names tenant acme's as acme/lab)" {
		t.Errorf("acme's lab: %v %q", ok, why)
	}
}

// TestOtherTenantsOrgsNotShown: a refusal and the site a tenant is shown
// named every organisation the operator's catalog lets in or lets own a
// pool, other tenants' too ("site p is private to [acme/lab]"). A tenant
// now reads its own organisations by name and the others' as a count.
func TestOtherTenantsOrgsNotShown(t *testing.T) {
	s := &Site{Spec: SiteSpec{Access: AccessPrivate, AccessOrganizations: []string{"acme/lab", "zeta/ops", "lab", "acme/ml"},
		Pools: []Pool{{Owner: "organization:acme/lab"}, {Owner: "organization:lab"}, {Owner: OwnerOperator}, {}}}}
	s.Metadata.Name = "p"
	for _, c := range []struct {
		tenant, why string
		orgs        []string
		owners      []string
	}{
		{"acme", "site p is private to [acme/lab acme/ml] and 2 organisations of other tenants",
			[]string{"acme/lab", OtherTenantsOrg, OtherTenantsOrg, "acme/ml"},
			[]string{"organization:acme/lab", "organization:" + OtherTenantsOrg, OwnerOperator, ""}},
		{"zeta", "site p is private to [zeta/ops] and 3 organisations of other tenants",
			[]string{OtherTenantsOrg, "zeta/ops", OtherTenantsOrg, OtherTenantsOrg},
			[]string{"organization:" + OtherTenantsOrg, "organization:" + OtherTenantsOrg, OwnerOperator, ""}},
		{"", "site p is private to [lab] and 3 organisations of other tenants",
			[]string{OtherTenantsOrg, OtherTenantsOrg, "lab", OtherTenantsOrg},
			[]string{"organization:" + OtherTenantsOrg, "organization:lab", OwnerOperator, ""}},
		{"beta", "site p is private to 4 organisations of other tenants",
			[]string{OtherTenantsOrg, OtherTenantsOrg, OtherTenantsOrg, OtherTenantsOrg},
			[]string{"organization:" + OtherTenantsOrg, "organization:" + OtherTenantsOrg, OwnerOperator, ""}},
	} {
		ok, why := s.UsableBy(c.tenant, "nobody", false)
		if ok || why != c.why {
			t.Errorf("tenant %q: %v %q, want %q", c.tenant, ok, why, c.why)
		}
		shown := s.ShownTo(c.tenant)
		var owners []string
		for _, p := range shown.Spec.Pools {
			owners = append(owners, p.Owner)
		}
		if !slices.Equal(shown.Spec.AccessOrganizations, c.orgs) || !slices.Equal(owners, c.owners) {
			t.Errorf("tenant %q is shown %q and owners %q, want %q and %q", c.tenant, shown.Spec.AccessOrganizations, owners, c.orgs, c.owners)
		}
	}
	if s.Spec.AccessOrganizations[0] != "acme/lab" || s.Spec.Pools[0].Owner != "organization:acme/lab" {
		t.Errorf("ShownTo changed the catalog's site: %q %q", s.Spec.AccessOrganizations, s.Spec.Pools[0].Owner)
	}
	// The default tenant's own only: the site is shown as it is.
	own := &Site{Spec: SiteSpec{Access: AccessPrivate, AccessOrganizations: []string{"high-flyer"}}}
	if own.ShownTo("") != own || !strings.Contains(fmt.Sprint(own.UsableBy("", "x", false)), "private to [high-flyer]") {
		t.Error("a site naming the default tenant's organisation only is not shown to it as it is")
	}
}
