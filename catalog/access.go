package catalog

import (
	"fmt"
	"slices"
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

// UsableBy says whether org may use the site, and if not, why: a
// public-rental site is open to all; an allocation site to the
// organisations it names, or to anyone when includeAllocation is set (the
// organisation says it can apply for one); a private site to the
// organisations it names only.
func (s *Site) UsableBy(org string, includeAllocation bool) (bool, string) {
	named := slices.Contains(s.Spec.AccessOrganizations, org)
	switch s.AccessTerms() {
	case AccessAllocation:
		if named || includeAllocation {
			return true, ""
		}
		return false, fmt.Sprintf("site %s is used through allocations (a national or research programme), not rented, and %s holds none there (plan --include-allocation counts allocation sites in)", s.Metadata.Name, org)
	case AccessPrivate:
		if named {
			return true, ""
		}
		return false, fmt.Sprintf("site %s is private to %v", s.Metadata.Name, s.Spec.AccessOrganizations)
	}
	return true, ""
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
