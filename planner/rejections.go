package planner

import (
	"cmp"
	"slices"
	"strings"

	"meridian.dev/meridian/policy"
)

// rejections groups rejected candidates by site × accelerator × kind, so a
// plan's size grows with sites, not with counts or pools, and counts them
// by kind and by denying rule for the histogram.
type rejections struct {
	groups map[groupKey]*Rejection
	byKind map[Kind]int
	byRule map[string]int
	// seen holds the reasons of each group of more than smallGroup, to
	// find a repeated one without a scan: each count of each pool of a
	// site over a job's budget is a reason of its own, and the scans of a
	// site of 2,000 pools (40,000 reasons) took 20 s.
	seen map[groupKey]map[findingKey]struct{}
}

// smallGroup is how many reasons a group's scan looks through before
// they are kept in a set as well.
const smallGroup = 16

// findingKey is what hasFinding compares.
type findingKey struct{ rule, message, source string }

func keyOf(f policy.Finding) findingKey { return findingKey{f.Rule, f.Message, f.Source} }

type groupKey struct {
	site, acc string
	kind      Kind
}

func newRejections() *rejections {
	return &rejections{groups: map[groupKey]*Rejection{}, byKind: map[Kind]int{}, byRule: map[string]int{}, seen: map[groupKey]map[findingKey]struct{}{}}
}

// add records n rejected candidates of c with their reasons.
func (r *rejections) add(c *candidate, kind Kind, n int, reasons []policy.Finding) {
	r.byKind[kind] += n
	if kind == KindLaw {
		for i, f := range reasons {
			if !ruleBefore(reasons[:i], f.Rule) {
				r.byRule[f.Rule] += n
			}
		}
	}
	k := groupKey{c.site.Metadata.Name, c.pool.Accelerator, kind}
	g := r.groups[k]
	if g == nil {
		g = &Rejection{Site: k.site, Country: c.site.Spec.Country, Accelerator: k.acc, Kind: kind, Resolution: kind.Resolution()}
		r.groups[k] = g
	}
	g.Candidates += n
	if g.Reasons == nil && len(reasons) > 0 && distinct(reasons) {
		// The group's first reasons, shared; an append copies them
		// (clipped, so it cannot write into the caller's array).
		g.Reasons = slices.Clip(reasons)
		return
	}
	for _, f := range reasons {
		if r.has(k, g, f) {
			continue
		}
		g.Reasons = append(g.Reasons, f)
		if set := r.seen[k]; set != nil {
			set[keyOf(f)] = struct{}{}
		}
	}
}

// has is hasFinding(g.Reasons, f), through the group's set once it has
// more than smallGroup reasons.
func (r *rejections) has(k groupKey, g *Rejection, f policy.Finding) bool {
	set := r.seen[k]
	if set == nil {
		if len(g.Reasons) <= smallGroup {
			return hasFinding(g.Reasons, f)
		}
		set = make(map[findingKey]struct{}, 2*len(g.Reasons))
		for _, x := range g.Reasons {
			set[keyOf(x)] = struct{}{}
		}
		r.seen[k] = set
	}
	_, ok := set[keyOf(f)]
	return ok
}

// distinct reports whether no finding in list repeats an earlier one (as
// hasFinding compares them).
func distinct(list []policy.Finding) bool {
	for i, f := range list {
		if hasFinding(list[:i], f) {
			return false
		}
	}
	return true
}

// ruleBefore reports whether a finding of rule is in list (denials are few,
// so a scan beats a set).
func ruleBefore(list []policy.Finding, rule string) bool {
	for _, x := range list {
		if x.Rule == rule {
			return true
		}
	}
	return false
}

func hasFinding(list []policy.Finding, f policy.Finding) bool {
	for _, x := range list {
		if x.Rule == f.Rule && x.Message == f.Message && x.Source == f.Source {
			return true
		}
	}
	return false
}

// kindOrder is a kind's place in Kinds, for sorting.
func kindOrder(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

// list returns the groups sorted by site, accelerator and kind, and the
// counts by kind (every kind present, zero or not) and by rule.
func (r *rejections) list() ([]Rejection, map[string]int, map[string]int) {
	groups := make([]*Rejection, 0, len(r.groups))
	for _, g := range r.groups {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *Rejection) int {
		if c := strings.Compare(a.Site, b.Site); c != 0 {
			return c
		}
		if c := strings.Compare(a.Accelerator, b.Accelerator); c != 0 {
			return c
		}
		return cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind))
	})
	out := make([]Rejection, len(groups))
	for i, g := range groups {
		out[i] = *g
	}
	byKind := make(map[string]int, len(Kinds))
	for _, k := range Kinds {
		byKind[string(k)] = r.byKind[k]
	}
	byRule := make(map[string]int, len(r.byRule))
	for k, v := range r.byRule {
		byRule[k] = v
	}
	return out, byKind, byRule
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
