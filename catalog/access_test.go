package catalog

import "testing"

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
	if ok || why != "site p is private to [lab] (a name without a tenant is tenant default's organisation; the operator names tenant acme's as acme/lab)" {
		t.Errorf("acme's lab: %v %q", ok, why)
	}
}
