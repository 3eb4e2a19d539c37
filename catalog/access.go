package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Access terms of a site (SCHEMA.md Site spec.access).
const (
	// AccessPublicRental: anyone who pays may rent it (the default).
	AccessPublicRental = "public-rental"
	// AccessAllocation: compute is granted through a national or research
	// programme (a supercomputing centre's calls), not rented; its prices
	// are notional.
	AccessAllocation = "allocation"
	// AccessPrivate: only the organisations the site names may use it.
	AccessPrivate = "private"
)

// AccessValues lists the accepted spec.access values.
var AccessValues = []string{AccessPublicRental, AccessAllocation, AccessPrivate}

// AccessTerms returns the site's access, public-rental when unset.
func (s *Site) AccessTerms() string {
	if s.Spec.Access == "" {
		return AccessPublicRental
	}
	return s.Spec.Access
}

// NotionalPrice reports whether the site's prices are notional: an
// allocation site is not rented, so its price per accelerator-hour is an
// estimate of what the time is worth, not a price anyone pays.
func (s *Site) NotionalPrice() bool { return s.AccessTerms() == AccessAllocation }

// Runnable reports whether the site runs jobs: it has a configured backend.
// Sites without one are for planning only. Which backend types a program
// can run is checked when the catalog loads (World.CheckBackends).
func (s *Site) Runnable() bool { return s.Spec.Backend.Type != "" }

// DefaultTenant is the tenant of the command line and of a state
// directory's own documents (the first token a server makes).
const DefaultTenant = "default"

// TenantOr is tenant, or DefaultTenant for "": records and requests made
// before tenants were named are the state directory's own.
func TenantOr(tenant string) string {
	if tenant == "" {
		return DefaultTenant
	}
	return tenant
}

// OrgRef splits a catalog's name of an organisation ("NAME", or
// "TENANT/NAME" for tenant TENANT's organisation NAME) into tenant and
// name; the tenant of a name without one is DefaultTenant.
func OrgRef(ref string) (tenant, name string) {
	if t, n, ok := strings.Cut(ref, "/"); ok {
		return t, n
	}
	return DefaultTenant, ref
}

// NamesOrg says whether ref, an organisation named in the operator's
// catalog (a private site's accessOrganizations, a pool's owner), is
// tenant's organisation org. Organisation names are each tenant's own:
// another tenant may register the same name, so a name without a tenant
// is DefaultTenant's only. A tenant of "" is DefaultTenant.
func NamesOrg(ref, tenant, org string) bool {
	t, n := OrgRef(ref)
	return t == TenantOr(tenant) && n == org
}

// UsableBy says whether tenant's organisation org may use the site, and if
// not, why: a public-rental site is open to all; an allocation site to the
// organisations it names, or to anyone when includeAllocation is set (the
// organisation says it can apply for one); a private site to the
// organisations it names only (NamesOrg).
func (s *Site) UsableBy(tenant, org string, includeAllocation bool) (bool, string) {
	named := slices.ContainsFunc(s.Spec.AccessOrganizations, func(ref string) bool { return NamesOrg(ref, tenant, org) })
	switch s.AccessTerms() {
	case AccessAllocation:
		if named || includeAllocation {
			return true, ""
		}
		return false, fmt.Sprintf("site %s is used through allocations (a national or research programme), not rented, and %s holds none there (plan --include-allocation counts allocation sites in)%s", s.Metadata.Name, org, s.tenantHint(tenant, org))
	case AccessPrivate:
		if named {
			return true, ""
		}
		return false, fmt.Sprintf("site %s is private to %s%s", s.Metadata.Name, s.accessShownTo(tenant), s.tenantHint(tenant, org))
	}
	return true, ""
}

// OtherTenantsOrg stands for another tenant's organisation in what a
// tenant is shown of the operator's catalog: organisation names are each
// tenant's own, and one tenant does not learn another's.
const OtherTenantsOrg = "(another tenant's organisation)"

// ownRef says whether ref, an organisation named in the operator's
// catalog, is one of tenant's organisations.
func ownRef(ref, tenant string) bool {
	t, _ := OrgRef(ref)
	return t == TenantOr(tenant)
}

// accessShownTo lists the site's organisations as tenant may read them:
// its own by name, the others' as a count.
func (s *Site) accessShownTo(tenant string) string {
	var own []string
	others := 0
	for _, ref := range s.Spec.AccessOrganizations {
		if ownRef(ref, tenant) {
			own = append(own, ref)
		} else {
			others++
		}
	}
	switch {
	case others == 0:
		return fmt.Sprintf("%v", own)
	case others == 1 && own == nil:
		return "1 organisation of another tenant"
	case own == nil:
		return fmt.Sprintf("%d organisations of other tenants", others)
	case others == 1:
		return fmt.Sprintf("%v and 1 organisation of another tenant", own)
	}
	return fmt.Sprintf("%v and %d organisations of other tenants", own, others)
}

// ShownTo returns the site as tenant may see it: the organisations of
// other tenants that its accessOrganizations and its pools' owners name
// are each shown as OtherTenantsOrg, and tenant's own as written. The
// site itself is not changed; it is returned as is when it names no other
// tenant's organisation.
func (s *Site) ShownTo(tenant string) *Site {
	if s == nil {
		return nil
	}
	foreign := func(ref string) bool { return !ownRef(ref, tenant) }
	orgs := slices.ContainsFunc(s.Spec.AccessOrganizations, foreign)
	pools := slices.ContainsFunc(s.Spec.Pools, func(p Pool) bool {
		org := p.OwnerOrganization()
		return org != "" && foreign(org)
	})
	if !orgs && !pools {
		return s
	}
	c := *s
	if orgs {
		c.Spec.AccessOrganizations = make([]string, len(s.Spec.AccessOrganizations))
		for i, ref := range s.Spec.AccessOrganizations {
			if foreign(ref) {
				ref = OtherTenantsOrg
			}
			c.Spec.AccessOrganizations[i] = ref
		}
	}
	if pools {
		c.Spec.Pools = slices.Clone(s.Spec.Pools)
		for i := range c.Spec.Pools {
			if org := c.Spec.Pools[i].OwnerOrganization(); org != "" && foreign(org) {
				c.Spec.Pools[i].Owner = OwnerOrgPrefix + OtherTenantsOrg
			}
		}
	}
	return &c
}

// tenantHint explains a refusal where the site names org without a tenant
// and org is another tenant's: the operator meant that tenant's, or not.
func (s *Site) tenantHint(tenant, org string) string {
	if tenant == "" || tenant == DefaultTenant || !slices.Contains(s.Spec.AccessOrganizations, org) {
		return ""
	}
	return fmt.Sprintf(" (a name without a tenant is tenant %s's organisation; the operator names tenant %s's as %s/%s)", DefaultTenant, tenant, tenant, org)
}

// CheckBackends reports every site whose backend type is not one of
// runnable: the types of backend the calling program can run. A site whose
// backend this program cannot run would plan well and then fail to start,
// so it is refused when the catalog loads, with file, line and field.
// Sites without a backend (for planning only) pass.
func (w *World) CheckBackends(runnable []string) error {
	var errs Errors
	for _, s := range w.Sites {
		t := s.Spec.Backend.Type
		if t == "" || slices.Contains(runnable, t) {
			continue
		}
		errs = append(errs, fieldErr(s.Pos, KindSite+"/"+s.Metadata.Name, "spec.backend.type",
			fmt.Sprintf("%q: this build of meridian cannot run it (leave backend out to keep the site for planning only)", t), runnable...))
	}
	return errs.errOrNil()
}
