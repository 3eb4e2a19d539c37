package planner

import (
	"hash/fnv"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// worker is one goroutine's view of a pass: its own law session and sink.
type worker struct {
	*pass
	sess Session
	out  *sink
	run  int // the worker's run in fanOut's order
}

// workersFor is how many workers n items deserve: at most one per
// minimum items, one per CPU and one per law session.
func (ps *pass) workersFor(n, minimum int) int {
	return max(1, min(runtime.GOMAXPROCS(0), len(ps.sessions), (n+minimum-1)/minimum))
}

// contiguous splits items into k runs in order.
func contiguous(items []*candidate, k int) [][]*candidate {
	runs := make([][]*candidate, k)
	for i := range runs {
		runs[i] = items[i*len(items)/k : (i+1)*len(items)/k]
	}
	return runs
}

// byClass splits items into k runs so that pools of one country and
// accelerator land in the same run: every law class lies within one
// (the policy engine may merge classes across operators and their
// headquarters), so each worker's law session sees whole classes and its
// cache is not duplicated in the other's. Pools of one site and
// accelerator share a run, so rejection groups keep candidate order.
// Each run keeps the items' order.
func byClass(items []*candidate, k int) [][]*candidate {
	runs := make([][]*candidate, k)
	for _, c := range items {
		h := fnv.New32a()
		h.Write([]byte(c.site.Spec.Country))
		h.Write([]byte{0})
		h.Write([]byte(c.pool.Accelerator))
		i := int(h.Sum32() % uint32(k))
		runs[i] = append(runs[i], c)
	}
	return runs
}

// fanOut runs fn on each run in its own goroutine with its own law session
// and sink, and returns the sinks in run order. Whatever the scheduling,
// each run is processed in order, and callers merge sinks in order.
func (ps *pass) fanOut(runs [][]*candidate, fn func(w *worker, run []*candidate)) []sink {
	sinks := make([]sink, len(runs))
	for i := range runs {
		ps.session(i) // opened here, before the workers start
	}
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func(w *worker, run []*candidate) {
			defer wg.Done()
			fn(w, run)
		}(&worker{pass: ps, sess: ps.sessions[i], out: &sinks[i], run: i}, runs[i])
	}
	wg.Wait()
	return sinks
}

// merge records what a worker found, in order.
func (ps *pass) merge(s *sink) {
	ps.total += s.total
	keep(&ps.overBudget, s.overBudget, cheaper)
	keep(&ps.pastDeadline, s.pastDeadline, faster)
	for _, r := range s.rejected {
		ps.rejected.add(r.c, r.kind, 1, r.findings)
	}
	if ps.keepDecisions {
		for _, c := range s.decided {
			ps.decisions[c.pool] = c.decision
		}
	}
	if ps.trace != nil {
		ps.trace.Steps = append(ps.trace.Steps, s.steps...)
	}
}

// checkPools is stage 2: the pool-level feasibility chain on every
// candidate, spread across workers. It returns the pools that pass, with
// their data moves priced (on one goroutine: the prices are cached by site).
func (ps *pass) checkPools(cands []*candidate) []*candidate {
	ps.prepareMinCounts(cands)
	sinks := ps.fanOut(byClass(cands, ps.workersFor(len(cands), 256)), func(w *worker, run []*candidate) {
		for _, c := range run {
			if w.ctx.Err() != nil {
				return // plan sees it and fails: nothing of this run is kept
			}
			if w.checkPool(c) {
				w.out.passed = append(w.out.passed, c)
			}
		}
	})
	var out []*candidate
	for i := range sinks {
		ps.merge(&sinks[i])
		out = append(out, sinks[i].passed...)
	}
	slices.SortFunc(out, func(a, b *candidate) int { return a.seq - b.seq }) // back in candidate order
	for _, c := range out {
		ps.dataMoves(c)
		if ps.tracing(c) {
			ps.step(c, 0, "data", true, describeMoves(c), nil)
		}
	}
	return out
}

// checkPool takes one (site, pool) through the feasibility chain, stopping
// at the first rejection.
func (w *worker) checkPool(c *candidate) bool {
	tracing := w.tracing(c)
	for _, chk := range poolChecks {
		o := chk.check(w, c)
		if tracing {
			w.out.step(c, 0, string(chk.kind), o.reject == nil, o.detail, append(o.reject, o.notes...)...)
		}
		if o.reject != nil {
			w.out.reject(c, chk.kind, o.reject...)
			return false
		}
	}
	return true
}

// estimateCounts is stage 3: each count of each surviving pool is
// estimated and checked against the deadline and budget, spread across
// workers.
func (ps *pass) estimateCounts(pools []*candidate) {
	runs := contiguous(pools, ps.workersFor(len(pools), 64))
	// One array holds every option: each worker appends within its own
	// segment, sized for every count of its pools, and the segments are
	// then closed up in order (options are large, and a plan has tens of
	// thousands: a second copy cost as much as a tenth of the plan).
	ends := make([]int, len(runs))
	total := 0
	for i, run := range runs {
		for _, c := range run {
			total += len(c.counts)
		}
		ends[i] = total
	}
	base := len(ps.feasible)
	all := slices.Grow(ps.feasible, total)[:base+total]
	sinks := ps.fanOut(runs, func(w *worker, run []*candidate) {
		start := 0
		if w.run > 0 {
			start = ends[w.run-1]
		}
		w.out.feasible = all[base+start : base+start : base+ends[w.run]]
		for _, c := range run {
			if w.ctx.Err() != nil {
				return // plan sees it and fails
			}
			w.considerCounts(c, w.out)
		}
	})
	n := base
	for i := range sinks {
		n += copy(all[n:], sinks[i].feasible)
		ps.merge(&sinks[i])
	}
	clear(all[n:])
	ps.feasible = all[:n]
	if ps.trace != nil {
		sort.SliceStable(ps.trace.Steps, func(i, j int) bool { return ps.trace.Steps[i].Pool < ps.trace.Steps[j].Pool })
	}
}
