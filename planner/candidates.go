package planner

import (
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// candidate is one (site, pool) pair; its counts come from ladder once the
// pool-level checks pass.
type candidate struct {
	seq   int // position in candidates(), for merging in order
	site  *catalog.Site
	index int // in site.Spec.Pools
	pool  *catalog.Pool
	acc   *catalog.Accelerator

	// Filled in by the feasibility chain.
	decision policy.Decision
	lawClass string // cached class()
	counts   []int  // the ladder from need to max
	need     int    // smallest count: memory fit and minAccelerators
	max      int    // largest count: available and maxAccelerators

	// Filled in by the estimate stage, the same for every count.
	moves               []DataMove
	moveCost, moveHours float64
}

// candidates is the first stage: every pool of every site the caller did
// not exclude, in site-name then pool order.
func (ps *pass) candidates() []*candidate {
	n := 0
	for _, s := range ps.w.Sites {
		n += len(s.Spec.Pools)
	}
	all := make([]candidate, 0, n) // one allocation; candidates point into it
	out := make([]*candidate, 0, n)
	for _, s := range ps.w.Sites {
		if ps.exclude[s.Metadata.Name] {
			continue
		}
		for i := range s.Spec.Pools {
			pool := &s.Spec.Pools[i]
			all = append(all, candidate{seq: len(all), site: s, index: i, pool: pool, acc: ps.w.Accelerators[pool.Accelerator]})
			out = append(out, &all[len(all)-1])
		}
	}
	return out
}

// ladder is the counts worth trying between lo and hi: lo, every power of
// two strictly between, and hi. It is empty when lo > hi.
func ladder(lo, hi int) []int {
	if lo < 1 {
		lo = 1
	}
	if lo > hi {
		return nil
	}
	out := []int{lo}
	for n := 1; n < hi && n > 0; n <<= 1 {
		if n > lo {
			out = append(out, n)
		}
	}
	if hi > lo {
		out = append(out, hi)
	}
	return out
}

// class names the law class of a candidate: country, operator headquarters,
// pool owner and accelerator.
func (c *candidate) class() string {
	if c.lawClass == "" {
		c.lawClass = c.makeClass()
	}
	return c.lawClass
}

func (c *candidate) makeClass() string {
	owner := c.pool.Owner
	if owner == "" {
		owner = catalog.OwnerOperator
	}
	return c.site.Spec.Country + "/" + c.site.Spec.Operator.Headquarters + "/" + owner + "/" + c.pool.Accelerator
}
