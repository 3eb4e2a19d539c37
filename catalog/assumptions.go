package catalog

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// AssumptionKey is one spec.assumptions key that some component reads, with
// the values it accepts. The components that read keys (the estimator, the
// planner) list theirs, and whoever loads a world passes the list to Load or
// Assemble: what a job may set does not depend on which packages happen to
// be linked.
type AssumptionKey struct {
	Name string
	// Doc says what the number means, with its unit.
	Doc string
	// Min and Max bound accepted values; MinOpen and MaxOpen exclude the
	// bound itself. Every value must also be a finite number, and zero or
	// a normal one (Subnormal).
	Min, Max         float64
	MinOpen, MaxOpen bool
}

// smallestNormal is the least positive float64 with full precision.
const smallestNormal = 0x1p-1022

// Subnormal reports whether x is a denormal number: not zero, but smaller
// in magnitude than the least normal float64 (about 2.2e-308). A range
// open at 0 would accept one, and dividing by it gives +Inf: a job that
// sets linkEfficiency to 5e-324 made every data move take forever.
func Subnormal(x float64) bool {
	return x != 0 && math.Abs(x) < smallestNormal
}

// Accepts reports whether x is within the key's range and is neither NaN,
// infinite nor subnormal.
func (k AssumptionKey) Accepts(x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) || Subnormal(x) {
		return false
	}
	if x < k.Min || (k.MinOpen && x == k.Min) {
		return false
	}
	return !(x > k.Max || (k.MaxOpen && x == k.Max))
}

// Range describes the accepted values, e.g. "(0, 1]".
func (k AssumptionKey) Range() string {
	lo, hi := "[", "]"
	if k.MinOpen {
		lo = "("
	}
	if k.MaxOpen {
		hi = ")"
	}
	return lo + strconv.FormatFloat(k.Min, 'g', -1, 64) + ", " + strconv.FormatFloat(k.Max, 'g', -1, 64) + hi
}

// AssumptionKeys is the set of spec.assumptions keys a loader accepts.
type AssumptionKeys []AssumptionKey

// MergeAssumptionKeys joins lists from several readers, sorted by name. A
// name listed twice with a different meaning or range is an error: two
// readers would disagree about one number.
func MergeAssumptionKeys(lists ...AssumptionKeys) (AssumptionKeys, error) {
	seen := map[string]AssumptionKey{}
	var out AssumptionKeys
	for _, l := range lists {
		for _, k := range l {
			if k.Name == "" {
				return nil, fmt.Errorf("assumption key with an empty name (%q)", k.Doc)
			}
			if old, ok := seen[k.Name]; ok {
				if old != k {
					return nil, fmt.Errorf("assumption key %q is listed twice with different meanings", k.Name)
				}
				continue
			}
			seen[k.Name] = k
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Lookup returns the key named name.
func (ks AssumptionKeys) Lookup(name string) (AssumptionKey, bool) {
	i := sort.Search(len(ks), func(i int) bool { return ks[i].Name >= name })
	if i < len(ks) && ks[i].Name == name {
		return ks[i], true
	}
	for _, k := range ks { // not sorted: a list built by hand
		if k.Name == name {
			return k, true
		}
	}
	return AssumptionKey{}, false
}

// Names returns the keys' names, sorted.
func (ks AssumptionKeys) Names() []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	sort.Strings(out)
	return out
}
