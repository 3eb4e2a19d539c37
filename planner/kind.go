package planner

import "fmt"

// Kind says which check rejected a candidate (SCHEMA.md plan -o json).
type Kind string

// Rejection kinds.
const (
	KindConstraint Kind = "constraint" // the job's own countries, accelerators, sites or counts
	KindAccess     Kind = "access"     // a site the organisation cannot use: an allocation it does not hold, or another's private site
	KindLaw        Kind = "law"        // a rule denies the placement on the plan's date
	KindMemory     Kind = "memory"     // the model does not fit even on every accelerator the pool could give
	KindCapacity   Kind = "capacity"   // not enough accelerators free now
	KindDeadline   Kind = "deadline"   // too slow even at the largest count
	KindBudget     Kind = "budget"     // dearer than the job's budget
	// KindSite: the site's scheduler cannot take work now (its settings fail
	// the server's check against it). Only a server's plans carry it, so it
	// is not in Kinds, which fixes the columns of `meridian plan`.
	KindSite Kind = "site"
)

// Kinds lists every kind in the order plans print them: the job's own
// choices, then law, then what may change.
var Kinds = []Kind{KindConstraint, KindAccess, KindLaw, KindMemory, KindCapacity, KindDeadline, KindBudget}

// Resolution says whether a rejection may go away without changing the law.
type Resolution int

// Resolutions, in the manner of the Kubernetes scheduler's Unschedulable and
// UnschedulableAndUnresolvable.
const (
	// NotNow may change: capacity frees up, the budget grows, the job relaxes a constraint.
	NotNow Resolution = iota + 1
	// Unresolvable is final for that site on that date: never retried, never worked around.
	Unresolvable
)

// Resolution returns Unresolvable for law and NotNow for every other kind.
func (k Kind) Resolution() Resolution {
	if k == KindLaw {
		return Unresolvable
	}
	return NotNow
}

// String prints "not-now" or "unresolvable".
func (r Resolution) String() string {
	switch r {
	case NotNow:
		return "not-now"
	case Unresolvable:
		return "unresolvable"
	}
	return fmt.Sprintf("Resolution(%d)", int(r))
}

// MarshalText writes the String form.
func (r Resolution) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads the String form.
func (r *Resolution) UnmarshalText(b []byte) error {
	switch string(b) {
	case "not-now":
		*r = NotNow
	case "unresolvable":
		*r = Unresolvable
	default:
		return fmt.Errorf("resolution %q: want not-now or unresolvable", b)
	}
	return nil
}

// Reason codes for findings the planner makes itself (law findings carry the rule id).
const (
	CodeCountry      = "constraint.country"
	CodeAccelerator  = "constraint.accelerator"
	CodeSite         = "constraint.site"
	CodeMinCount     = "constraint.min-accelerators"
	CodeAllocation   = "access.allocation"
	CodePrivate      = "access.private"
	CodeNoFit        = "memory.no-fit"
	CodeFree         = "capacity.free"
	CodeNoEstimate   = "capacity.no-estimate"
	CodeDeadline     = "deadline.exceeded"
	CodeBudget       = "budget.exceeded"
	CodeLawUndecided = "law.undecided"
	CodeSiteDown     = "site.unavailable"
)
