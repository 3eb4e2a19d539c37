package fleet

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Global assignment. Each job may take one of its options (a pool and a
// count of accelerators, at a cost), each option's count is taken from
// every resource it uses (its pool, and the quotas it counts against), and
// no resource may be given more than it has. Jobs that get no option wait.
// The objective is to place as many jobs as possible and, among those
// assignments, to pay least: a job left waiting costs Penalty, more than
// any option.
//
// This is the generalised assignment problem (NP-hard: each job's count is
// indivisible, and differs between pools), so Assign is a heuristic: a
// regret greedy (the job that would lose most by not getting its best
// option goes first), then moves and swaps while any lowers the total. Its
// result carries a lower bound on the optimum (a Lagrangian relaxation of
// the capacities), so that the gap it reports bounds the true one; Exact
// solves small instances outright, to measure the heuristic against.

// Problem is a batch of jobs to assign.
type Problem struct {
	Jobs []Job
	// Capacity is how much of each resource there is (a pool's free
	// accelerators, a quota's headroom), by resource index.
	Capacity []int
}

// Job is one job's options; a job with none waits.
type Job struct {
	Name    string
	Options []Option
}

// Option is one way to run a job: Count accelerators taken from each of
// Uses (resource indices: the pool first, then quotas), at Cost.
type Option struct {
	Uses  []int
	Count int
	Cost  float64
	// Ref is the caller's, handed back with the assignment.
	Ref int
}

// Solution is an assignment: Choice[j] is the index of job j's option, -1
// for a job that waits.
type Solution struct {
	Choice []int
	// Cost is the options' total cost; Waiting counts the jobs without one.
	Cost    float64
	Waiting int
	// Objective is Cost plus Penalty for each waiting job; LowerBound is at
	// most the best Objective any assignment has, so Gap =
	// (Objective-LowerBound)/LowerBound bounds how far from optimal it is.
	Objective  float64
	LowerBound float64
	Gap        float64
	Elapsed    time.Duration

	// examined counts the options the branch and bound looked at;
	// improved, the checks the improvement moves made (ImproveWork).
	examined int
	improved int
	// bounded counts the options the lower bound's steps looked at.
	bounded int
}

// MaxCost is the most an option costs in the search (USD): a thousand
// times the largest budget a job may set. An option may cost more (a job
// without a budget, at a price or a utilisation a hair above 0), and is
// then weighed as costing MaxCost. Two options near the largest float made
// the penalty of a waiting job +Inf: every assignment with one waiting job
// weighed the same as leaving every job waiting, which the search returned,
// with a gap of NaN that no JSON holds.
const MaxCost = 1e15

// solveCapped validates p and solves it with each option's cost at most
// MaxCost; the solution's Cost is what its options cost.
func solveCapped(p *Problem, solve func(*Problem) (*Solution, error)) (*Solution, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q := p.capped()
	sol, err := solve(q)
	if err != nil || q == p {
		return sol, err
	}
	sol.Cost = 0
	for j, k := range sol.Choice {
		if k >= 0 {
			sol.Cost += p.Jobs[j].Options[k].Cost
		}
	}
	return sol, nil
}

// capped is p, or a copy of it with each option's cost at most MaxCost
// when one costs more.
func (p *Problem) capped() *Problem {
	over := false
	for _, j := range p.Jobs {
		for _, o := range j.Options {
			over = over || o.Cost > MaxCost
		}
	}
	if !over {
		return p
	}
	q := &Problem{Capacity: p.Capacity, Jobs: make([]Job, len(p.Jobs))}
	for i, j := range p.Jobs {
		q.Jobs[i] = Job{Name: j.Name, Options: slices.Clone(j.Options)}
		for k := range q.Jobs[i].Options {
			q.Jobs[i].Options[k].Cost = min(q.Jobs[i].Options[k].Cost, MaxCost)
		}
	}
	return q
}

// penalty is what leaving a job waiting costs in the objective: more than
// any assignment of every job could cost, so placing one more job always
// wins.
func penalty(p *Problem) float64 {
	total := 1.0
	for _, j := range p.Jobs {
		worst := 0.0
		for _, o := range j.Options {
			worst = math.Max(worst, o.Cost)
		}
		total += worst
	}
	return total
}

// MaxJobs bounds the jobs of one problem: the greedy looks at every
// waiting job for each it places, so its time grows as the square of
// their number.
const MaxJobs = 10000

// MaxOptions bounds the options of one problem's jobs together: each is
// looked at again by every step of the lower bound and of the moves.
const MaxOptions = 1000000

// ImproveWork bounds what the improvement moves after the greedy do (an
// option checked against the resources' room, or a pair of jobs weighed
// for a swap): an ejection or a trade looks at every waiting job's
// options for each placed job, so that 800 jobs each lawful at 400 full
// pools took 4.5 s. Once it is spent the moves stop, leaving the
// assignment as the last move left it (valid, only less improved).
const ImproveWork = 20000000

// LowerBoundWork bounds the options the lower bound's steps look at in
// all: it takes fewer steps on a larger problem (a weaker bound, and so a
// larger gap reported, never a wrong one).
const LowerBoundWork = 20000000

// Validate checks a problem's size, indices and numbers.
func (p *Problem) Validate() error {
	if len(p.Jobs) > MaxJobs {
		return fmt.Errorf("%d jobs: at most %d are assigned together", len(p.Jobs), MaxJobs)
	}
	options := 0
	for _, job := range p.Jobs {
		options += len(job.Options)
	}
	if options > MaxOptions {
		return fmt.Errorf("%d options of %d jobs: at most %d are assigned together", options, len(p.Jobs), MaxOptions)
	}
	for i, c := range p.Capacity {
		if c < 0 {
			return fmt.Errorf("capacity[%d]: %d is negative", i, c)
		}
	}
	for j, job := range p.Jobs {
		for k, o := range job.Options {
			if o.Count < 1 {
				return fmt.Errorf("job %s option %d: count %d, want 1 or more", job.Name, k, o.Count)
			}
			if o.Cost < 0 || math.IsNaN(o.Cost) || math.IsInf(o.Cost, 0) {
				return fmt.Errorf("job %s option %d: cost %v", job.Name, k, o.Cost)
			}
			if len(o.Uses) == 0 {
				return fmt.Errorf("job %s option %d: uses no resource", job.Name, k)
			}
			for u, r := range o.Uses {
				if r < 0 || r >= len(p.Capacity) {
					return fmt.Errorf("job %d (%s) option %d: resource %d of %d", j, job.Name, k, r, len(p.Capacity))
				}
				// A resource used twice would be checked for the count
				// once and charged it twice: it fits where it does not.
				if slices.Contains(o.Uses[:u], r) {
					return fmt.Errorf("job %d (%s) option %d: resource %d is used twice", j, job.Name, k, r)
				}
			}
		}
	}
	return nil
}

type state struct {
	p    *Problem
	rem  []int
	pick []int
	// work counts the improvement moves' checks (ImproveWork).
	work int
}

// spent reports whether the improvement moves have done ImproveWork.
func (s *state) spent() bool { return s.work >= ImproveWork }

func (s *state) fits(o *Option) bool {
	s.work++
	for _, r := range o.Uses {
		if s.rem[r] < o.Count {
			return false
		}
	}
	return true
}

func (s *state) take(o *Option, sign int) {
	for _, r := range o.Uses {
		s.rem[r] -= sign * o.Count
	}
}

// ExactNodes bounds the branch and bound Assign runs after the heuristic:
// within it, small batches are solved to optimality (Gap 0).
const ExactNodes = 200000

// ExactWork bounds the options the branch and bound looks at in all (at
// each node, every option of the node's job): a node costs as many as its
// job has options, and a job may have one for every pool of the catalog,
// so that ExactNodes alone would let one call take seconds.
const ExactWork = 4000000

// ExactJobs is the largest batch Assign tries to solve exactly.
const ExactJobs = 40

// Assign solves p: the regret heuristic and improvement moves, then a
// branch and bound from that solution that proves it optimal, or improves
// it, when it finishes within ExactNodes nodes.
func Assign(p *Problem) (*Solution, error) { return solveCapped(p, assign) }

func assign(p *Problem) (*Solution, error) {
	start := time.Now()
	sol, err := heuristic(p)
	if err != nil {
		return nil, err
	}
	pen := penalty(p)
	if len(p.Jobs) > ExactJobs {
		sol.Elapsed = time.Since(start)
		return sol, nil
	}
	pick, obj, complete, examined := branchAndBound(p, pen, sol.Choice, sol.Objective, ExactNodes, ExactWork)
	if obj < sol.Objective || complete {
		s := &state{p: p, pick: pick}
		lb := sol.LowerBound
		sol = s.solution(pen)
		sol.LowerBound = lb
		if complete {
			sol.LowerBound = sol.Objective
		}
		sol.Gap = gap(sol.Objective, sol.LowerBound)
	}
	sol.examined = examined
	sol.Elapsed = time.Since(start)
	return sol, nil
}

// Heuristic solves p with the regret heuristic and improvement moves only.
func Heuristic(p *Problem) (*Solution, error) { return solveCapped(p, heuristic) }

func heuristic(p *Problem) (*Solution, error) {
	start := time.Now()
	pen := penalty(p)
	s := &state{p: p, rem: append([]int(nil), p.Capacity...), pick: make([]int, len(p.Jobs))}
	// Each job's options by cost; a job's best and second-best fitting
	// options only move down its list, as resources only shrink.
	order := optionsByCost(p)
	for j := range p.Jobs {
		s.pick[j] = -1
	}
	first := make([]int, len(p.Jobs)) // position of the first option that may still fit
	next := func(j, from int) int {
		for from < len(order[j]) && !s.fits(&p.Jobs[j].Options[order[j][from]]) {
			from++
		}
		return from
	}
	open := make([]int, 0, len(p.Jobs))
	for j := range p.Jobs {
		open = append(open, j)
	}
	for len(open) > 0 {
		bestAt, bestRegret := -1, -1.0
		for i := 0; i < len(open); i++ {
			j := open[i]
			first[j] = next(j, first[j])
			if first[j] == len(order[j]) {
				// Nothing fits any more: the job waits.
				open[i] = open[len(open)-1]
				open = open[:len(open)-1]
				i--
				continue
			}
			c1 := p.Jobs[j].Options[order[j][first[j]]].Cost
			c2 := pen
			if k := next(j, first[j]+1); k < len(order[j]) {
				c2 = p.Jobs[j].Options[order[j][k]].Cost
			}
			// Regret per accelerator: among jobs that would lose as much,
			// the smaller goes first and leaves room for more.
			if r := (c2 - c1) / float64(p.Jobs[j].Options[order[j][first[j]]].Count); r > bestRegret {
				bestAt, bestRegret = i, r
			}
		}
		if bestAt < 0 {
			break
		}
		j := open[bestAt]
		k := order[j][first[j]]
		s.pick[j] = k
		s.take(&p.Jobs[j].Options[k], 1)
		open[bestAt] = open[len(open)-1]
		open = open[:len(open)-1]
	}
	s.improve(order)
	sol := s.solution(pen)
	sol.improved = s.work
	sol.LowerBound, sol.bounded = lowerBound(p, pen, sol.Objective, 300)
	sol.Gap = gap(sol.Objective, sol.LowerBound)
	sol.Elapsed = time.Since(start)
	return sol, nil
}

func gap(obj, lb float64) float64 {
	if lb <= 0 {
		if obj <= 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Max(0, (obj-lb)/lb)
}

// improve places waiting jobs that now fit, moves jobs to cheaper options
// with room, and swaps two jobs' options where both fit and the total
// falls, until nothing changes (or a bounded number of rounds).
func (s *state) improve(order [][]int) {
	p := s.p
	s.work = 0
	for round := 0; round < 20 && !s.spent(); round++ {
		changed := false
		for j := range p.Jobs {
			if s.spent() {
				return
			}
			cur := s.pick[j]
			if cur >= 0 {
				s.take(&p.Jobs[j].Options[cur], -1)
			}
			for _, k := range order[j] {
				o := &p.Jobs[j].Options[k]
				if cur >= 0 && o.Cost >= p.Jobs[j].Options[cur].Cost {
					break
				}
				if s.fits(o) {
					s.pick[j], changed = k, true
					break
				}
			}
			if s.pick[j] >= 0 {
				s.take(&p.Jobs[j].Options[s.pick[j]], 1)
			}
		}
		// Ejections: a waiting job takes an option whose pool another job
		// leaves for one of its own other options.
		if s.eject(order) {
			changed = true
		}
		if s.trade(order) {
			changed = true
		}
		// Swaps: job a takes b's pool and b takes a's, if cheaper.
		byPool := make([]map[int]int, len(p.Jobs)) // job → first resource → option
		for j, job := range p.Jobs {
			m := make(map[int]int, len(job.Options))
			for k, o := range job.Options {
				if _, ok := m[o.Uses[0]]; !ok || o.Cost < job.Options[m[o.Uses[0]]].Cost {
					m[o.Uses[0]] = k
				}
			}
			byPool[j] = m
		}
		for a := range p.Jobs {
			for b := a + 1; b < len(p.Jobs); b++ {
				if s.work++; s.spent() {
					return
				}
				ka, kb := s.pick[a], s.pick[b]
				if ka < 0 || kb < 0 {
					continue
				}
				oa, ob := &p.Jobs[a].Options[ka], &p.Jobs[b].Options[kb]
				if oa.Uses[0] == ob.Uses[0] {
					continue
				}
				na, okA := byPool[a][ob.Uses[0]]
				nb, okB := byPool[b][oa.Uses[0]]
				if !okA || !okB {
					continue
				}
				xa, xb := &p.Jobs[a].Options[na], &p.Jobs[b].Options[nb]
				if xa.Cost+xb.Cost >= oa.Cost+ob.Cost-1e-9 {
					continue
				}
				s.take(oa, -1)
				s.take(ob, -1)
				if s.fits(xa) {
					s.take(xa, 1)
					if s.fits(xb) {
						s.take(xb, 1)
						s.pick[a], s.pick[b], changed = na, nb, true
						continue
					}
					s.take(xa, -1)
				}
				s.take(oa, 1)
				s.take(ob, 1)
			}
		}
		if !changed {
			return
		}
	}
}

// eject places waiting jobs by moving placed jobs out of the way: for a
// waiting job's option, jobs holding the same pool move, one by one, to
// other options of theirs that fit, until the waiting job fits too (one
// more job placed always lowers the objective); if it still does not fit,
// every move is undone. It reports whether it placed any.
func (s *state) eject(order [][]int) bool {
	p := s.p
	holders := map[int][]int{} // first resource → jobs placed there
	for j, k := range s.pick {
		if k >= 0 {
			r := p.Jobs[j].Options[k].Uses[0]
			holders[r] = append(holders[r], j)
		}
	}
	type move struct{ job, from, to int }
	placed := false
	for w := range p.Jobs {
		if s.pick[w] >= 0 {
			continue
		}
	options:
		for _, kw := range order[w] {
			if s.spent() {
				return placed
			}
			ow := &p.Jobs[w].Options[kw]
			pool := ow.Uses[0]
			var moves []move
			for _, a := range holders[pool] {
				if s.fits(ow) {
					break
				}
				ka := s.pick[a]
				if ka < 0 || p.Jobs[a].Options[ka].Uses[0] != pool {
					continue
				}
				oa := &p.Jobs[a].Options[ka]
				s.take(oa, -1)
				moved := false
				for _, kb := range order[a] {
					if ob := &p.Jobs[a].Options[kb]; ob.Uses[0] != pool && s.fits(ob) {
						s.take(ob, 1)
						s.pick[a] = kb
						moves = append(moves, move{a, ka, kb})
						moved = true
						break
					}
				}
				if !moved {
					s.take(oa, 1)
				}
			}
			if s.fits(ow) {
				s.take(ow, 1)
				s.pick[w] = kw
				for _, m := range moves {
					r := p.Jobs[m.job].Options[m.to].Uses[0]
					holders[r] = append(holders[r], m.job)
				}
				holders[pool] = append(holders[pool], w)
				placed = true
				break options
			}
			for i := len(moves) - 1; i >= 0; i-- {
				m := moves[i]
				s.take(&p.Jobs[m.job].Options[m.to], -1)
				s.take(&p.Jobs[m.job].Options[m.from], 1)
				s.pick[m.job] = m.from
			}
		}
	}
	return placed
}

// trade takes a placed job out when the room it leaves places two or more
// waiting jobs (and places it again elsewhere if it can): each trade
// places at least one more job. It reports whether it made any.
func (s *state) trade(order [][]int) bool {
	p := s.p
	traded := false
	for a := range p.Jobs {
		ka := s.pick[a]
		if ka < 0 {
			continue
		}
		if s.spent() {
			return traded
		}
		s.take(&p.Jobs[a].Options[ka], -1)
		s.pick[a] = -1
		var placed []int
		for w := range p.Jobs {
			if s.spent() {
				break // the jobs placed so far are kept or undone below
			}
			if s.pick[w] >= 0 || w == a {
				continue
			}
			for _, k := range order[w] {
				if o := &p.Jobs[w].Options[k]; s.fits(o) {
					s.take(o, 1)
					s.pick[w] = k
					placed = append(placed, w)
					break
				}
			}
		}
		if len(placed) >= 2 {
			for _, k := range order[a] {
				if o := &p.Jobs[a].Options[k]; s.fits(o) {
					s.take(o, 1)
					s.pick[a] = k
					break
				}
			}
			traded = true
			continue
		}
		for _, w := range placed {
			s.take(&p.Jobs[w].Options[s.pick[w]], -1)
			s.pick[w] = -1
		}
		s.pick[a] = ka
		s.take(&p.Jobs[a].Options[ka], 1)
	}
	return traded
}

func (s *state) solution(pen float64) *Solution {
	sol := &Solution{Choice: append([]int(nil), s.pick...)}
	for j, k := range s.pick {
		if k < 0 {
			sol.Waiting++
			continue
		}
		sol.Cost += s.p.Jobs[j].Options[k].Cost
	}
	sol.Objective = sol.Cost + float64(sol.Waiting)*pen
	return sol
}

// LowerBound is a Lagrangian bound on the optimal objective: capacities
// are priced (λ ≥ 0) instead of enforced, so that each job takes its
// cheapest priced option or waits. Every λ gives a valid bound; λ is
// improved by subgradient steps of Polyak's size towards ub (an
// objective some assignment reaches), and the best bound found returned.
func LowerBound(p *Problem, pen, ub float64, iters int) float64 {
	lb, _ := lowerBound(p, pen, ub, iters)
	return lb
}

// lowerBound is LowerBound, with the options its steps looked at.
func lowerBound(p *Problem, pen, ub float64, iters int) (best float64, work int) {
	size := len(p.Capacity) + 1
	for _, j := range p.Jobs {
		for _, o := range j.Options {
			size += len(o.Uses)
		}
	}
	iters = min(iters, max(1, LowerBoundWork/size))
	lambda := make([]float64, len(p.Capacity))
	use := make([]float64, len(p.Capacity))
	best = math.Inf(-1)
	theta := 1.0
	stall := 0
	for it := 0; it < iters; it++ {
		work += size
		for i := range use {
			use[i] = 0
		}
		l := 0.0
		for _, j := range p.Jobs {
			bv, bk := pen, -1
			for k := range j.Options {
				o := &j.Options[k]
				v := o.Cost
				for _, r := range o.Uses {
					v += lambda[r] * float64(o.Count)
				}
				if v < bv {
					bv, bk = v, k
				}
			}
			l += bv
			if bk >= 0 {
				for _, r := range j.Options[bk].Uses {
					use[r] += float64(j.Options[bk].Count)
				}
			}
		}
		for r, c := range p.Capacity {
			l -= lambda[r] * float64(c)
		}
		if it == 0 || l > best+1e-9*math.Abs(best) {
			best, stall = l, 0
		} else if stall++; stall >= 5 {
			theta, stall = theta/2, 0
		}
		// The subgradient, projected on λ ≥ 0.
		norm := 0.0
		for r, c := range p.Capacity {
			g := use[r] - float64(c)
			if g < 0 && lambda[r] == 0 {
				g = 0
			}
			use[r] = g
			norm += g * g
		}
		if norm == 0 || theta < 1e-6 {
			break // the relaxed choice fits: it is optimal for the relaxation
		}
		step := theta * math.Max(ub-l, 1e-9*math.Max(1, ub)) / norm
		for r := range lambda {
			lambda[r] = math.Max(0, lambda[r]+step*use[r])
		}
	}
	return best, work
}

// Exact solves p outright by branch and bound (for small instances: the
// tests measure the heuristic against it).
func Exact(p *Problem) (*Solution, error) { return solveCapped(p, exact) }

func exact(p *Problem) (*Solution, error) {
	pen := penalty(p)
	pick, _, _, _ := branchAndBound(p, pen, nil, math.Inf(1), -1, -1)
	s := &state{p: p, pick: pick}
	sol := s.solution(pen)
	sol.LowerBound, sol.Gap = sol.Objective, 0
	return sol, nil
}

// branchAndBound searches every assignment, pruning by the cheapest option
// of each job left, from an incumbent (pick, obj; nil and +Inf for none).
// It stops after limit nodes, or once it has looked at work options in all
// (negative: no limit); complete says whether it searched everything, so
// that the pick it returns is optimal, and examined counts the options it
// looked at.
func branchAndBound(p *Problem, pen float64, incumbent []int, obj float64, limit, work int) (best []int, bestObj float64, complete bool, examined int) {
	s := &state{p: p, rem: append([]int(nil), p.Capacity...), pick: make([]int, len(p.Jobs))}
	best = make([]int, len(p.Jobs))
	for j := range best {
		best[j] = -1
	}
	if incumbent != nil {
		copy(best, incumbent)
	}
	bestObj = obj
	// minRest[j] is a bound on what jobs j… cost at least.
	minRest := make([]float64, len(p.Jobs)+1)
	for j := len(p.Jobs) - 1; j >= 0; j-- {
		m := pen
		for _, o := range p.Jobs[j].Options {
			m = math.Min(m, o.Cost)
		}
		minRest[j] = minRest[j+1] + m
	}
	// Options by cost, so that good assignments come first.
	order := optionsByCost(p)
	nodes := 0
	complete = true
	var dfs func(j int, cost float64)
	dfs = func(j int, cost float64) {
		if !complete || cost+minRest[j] >= bestObj-1e-9*math.Max(1, bestObj) {
			return
		}
		if nodes++; limit >= 0 && nodes > limit {
			complete = false
			return
		}
		if j == len(p.Jobs) {
			bestObj = cost
			copy(best, s.pick)
			return
		}
		// The node looks at each of job j's options: the budget is
		// charged before, so that no node starts what it cannot pay for.
		if examined += len(order[j]); work >= 0 && examined > work {
			examined -= len(order[j])
			complete = false
			return
		}
		for _, k := range order[j] {
			o := &p.Jobs[j].Options[k]
			if s.fits(o) {
				s.take(o, 1)
				s.pick[j] = k
				dfs(j+1, cost+o.Cost)
				s.take(o, -1)
			}
		}
		s.pick[j] = -1
		dfs(j+1, cost+pen)
	}
	dfs(0, 0)
	return best, bestObj, complete, examined
}

// optionsByCost lists, for each job, the indexes of its options from the
// cheapest (ties in their given order).
func optionsByCost(p *Problem) [][]int {
	order := make([][]int, len(p.Jobs))
	for j, job := range p.Jobs {
		ix := make([]int, len(job.Options))
		for k := range ix {
			ix[k] = k
		}
		slices.SortStableFunc(ix, func(a, b int) int { return cmp.Compare(job.Options[a].Cost, job.Options[b].Cost) })
		order[j] = ix
	}
	return order
}
