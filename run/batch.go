package run

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// Batch admission. The admission loop walks the waiting runs in admission
// order (fair share, priority, age) and grows a batch: a run joins when
// the runs already in the batch and it can all be placed at once in the
// room there is — by some arrangement, not only by each taking its best
// place in turn — and otherwise keeps waiting. Once the walk ends (or the
// batch holds maxBatch runs) the batch is assigned at least total cost
// (package fleet) and each run admitted through the store, which checks
// every hold against the pools' and quotas' limits as before.
//
// So cost decides only where the runs that fairness lets in go, never who
// gets in: a run waits only when it could not be placed even by moving
// every run ahead of it in the admission order, which a run behind it in
// that order (a lower-priority run of its tenant, or a run of a tenant
// holding more of its share) then cannot change either.

// maxBatch bounds a batch: the size that fleet.Assign still searches
// exhaustively (branch and bound), so that "cannot be placed" is proven.
const maxBatch = fleet.ExactJobs

// entrant is a waiting run planned for admission: its runnable placements
// (each with room for it before the batch), in rank order.
type entrant struct {
	r     *Run
	w     *catalog.World
	plan  *planner.Plan
	opts  []planner.Placement
	ranks []int // each option's rank in plan.Placements, from 1
	asOf  catalog.Date
	rev   int64
	// left is what the plan took off the job (jobLeft).
	left string
	// byCost: the job ranks its placements by cost (its objective); the
	// batch never gives a job that ranks by anything else a worse-ranked
	// place than it would take admitted one at a time, to save cost.
	byCost bool
}

// batch is the runs the admission loop is about to admit, with where each
// goes (pick: an index into its opts).
type batch struct {
	c    *Controller
	base *catalog.World
	u    *usage // the holds before the batch
	sim  *usage // u with the batch's holds; nil while the batch is empty
	in   []*entrant
	pick []int
	out  []*entrant // planned, runnable, but no room in any arrangement
	// resources: the pools and quota limits the options use, with the
	// room each had before the batch.
	res  map[string]int
	room []int
	// usesOf caches each entrant's options' resources (uses).
	usesOf map[*entrant][][]int
	// hasSlack caches slack() while the batch is unchanged (nil: unknown).
	hasSlack *bool
	// searches, when set, is how many more fleet searches add may make
	// (shared by the batches of one admission pass): past them add
	// returns errSearchesSpent.
	searches *int
	// searched, when set, holds the runs searched for since the searches
	// last went round the whole queue (Controller.searched): add makes no
	// search for them, and answers errSearchSkipped.
	searched map[string]bool
}

// assignFleet is fleet.Assign (a variable for the tests to count).
var assignFleet = fleet.Assign

// maxSearches bounds the fleet searches (fleet.Assign, exhaustive over a
// batch of up to maxBatch runs) that one admission pass makes for runs that
// do not fit at once beside the batch: one for each such run, unbounded, a
// long queue that a freed pool makes worth trying held the loop for
// thousands of searches. The runs a pass does not reach are searched for
// by the next: a run searched for once is not searched for again until the
// searches have gone round every waiting run that needed one
// (Controller.searched), so that runs that never fit at the head of a long
// queue cannot take every pass's searches from a run behind them.
const maxSearches = 32

// maxTries bounds the waiting runs one admission pass plans again (each
// plan judged under the law): every run whose retry fell due was planned
// in the pass, however many, and a tenant's thousands of runs submitted
// together, so due together, held the loop for thousands of plans. A
// pass that reaches it ends, as one that spent its searches; the runs it
// did not reach are tried by the next passes, in the admission order (a
// run tried waits its retry's backoff before it is due again).
const maxTries = 256

// maxPreemptPlans bounds the plans one admission pass makes to look for
// runs to preempt (two for each waiting run that has a victim to weigh:
// itself in the victim's place, and the victim's own places). They were
// not counted: up to maxTries runs left waiting each planned twice more,
// about three times the pass's bound on plans. A pass that spends them
// ends its preemptions there, and the next pass goes on past the runs it
// weighed, as the searches and tries do (Controller.preemptTried).
const maxPreemptPlans = 32

// errSearchesSpent is add's answer once the pass has made maxSearches.
var errSearchesSpent = errors.New("the admission pass has made its fleet searches")

// errSearchSkipped is add's answer for a run that does not fit at once and
// was searched for already in this round of the queue: a pass that spent
// its searches on the runs ahead went on from where it stopped, and this
// run waits for the round to end to be searched for again.
var errSearchSkipped = errors.New("searched for already in this round of the queue")

func (c *Controller) newBatch(base *catalog.World, u *usage) *batch {
	return &batch{c: c, base: base, u: u, res: map[string]int{}, usesOf: map[*entrant][][]int{}}
}

// usage is what runs would hold with the batch admitted.
func (b *batch) usage() *usage {
	if b.sim != nil {
		return b.sim
	}
	return b.u
}

// resource returns the index of the resource named key, registering it
// with room n the first time.
func (b *batch) resource(key string, n func() int) int {
	if i, ok := b.res[key]; ok {
		return i
	}
	b.res[key] = len(b.room)
	b.room = append(b.room, max(n(), 0))
	return len(b.room) - 1
}

// uses lists the resources e's option k takes from: its pool, then the
// quota limits of its tenant for its accelerator.
func (b *batch) uses(e *entrant, k int) []int {
	us := b.usesOf[e]
	if us == nil {
		us = make([][]int, len(e.opts))
		b.usesOf[e] = us
	}
	if us[k] == nil {
		us[k] = b.resourcesOf(e, k)
	}
	return us[k]
}

func (b *batch) resourcesOf(e *entrant, k int) []int {
	pl := e.opts[k]
	out := []int{b.resource(fmt.Sprintf("pool\x00%s\x00%d", pl.Site, pl.Pool), func() int {
		s := b.base.Site(pl.Site)
		if s == nil || pl.Pool < 0 || pl.Pool >= len(s.Spec.Pools) {
			return 0
		}
		return b.c.poolLimit(s, pl.Pool) - b.u.pool[poolKey{pl.Site, pl.Pool}]
	})}
	for _, l := range b.c.quotas().Limits(e.r.Tenant, pl.Accelerator) {
		out = append(out, b.resource("limit\x00"+l.Name, func() int { return l.Max - b.u.matched(l) }))
	}
	return out
}

// problem is the batch, with e added when not nil, as a fleet problem;
// option k of job i is the entrant's opts[k].
func (b *batch) problem(e *entrant) *fleet.Problem {
	ins := b.in
	if e != nil {
		ins = append(ins[:len(ins):len(ins)], e)
	}
	p := &fleet.Problem{}
	for _, x := range ins {
		job := fleet.Job{Name: x.r.ID}
		for k, pl := range x.opts {
			job.Options = append(job.Options, fleet.Option{Uses: b.uses(x, k), Count: pl.Count, Cost: pl.CostUSD, Ref: k})
		}
		p.Jobs = append(p.Jobs, job)
	}
	p.Capacity = append([]int(nil), b.room...)
	return p
}

// left is the room each resource has after the batch's arrangement pick.
func (b *batch) left(pick []int) []int {
	rem := append([]int(nil), b.room...)
	for i, k := range pick {
		if k < 0 {
			continue
		}
		for _, r := range b.uses(b.in[i], k) {
			rem[r] -= b.in[i].opts[k].Count
		}
	}
	return rem
}

func fits(rem, uses []int, n int) bool {
	for _, r := range uses {
		if r >= len(rem) || rem[r] < n {
			return false
		}
	}
	return true
}

// slack reports whether some pool a run of the batch may use has room
// left, so that the batch could move a run there to make room elsewhere.
func (b *batch) slack() bool {
	if len(b.in) == 0 {
		return false
	}
	if b.hasSlack != nil {
		return *b.hasSlack
	}
	rem := b.left(b.pick)
	found := false
	for key, i := range b.res {
		if strings.HasPrefix(key, "pool\x00") && rem[i] > 0 {
			found = true
			break
		}
	}
	b.hasSlack = &found
	return found
}

// add lets e into the batch if the batch and e can all be placed: at its
// best-ranked option with room left, or else by rearranging the batch
// (fleet.Assign, which searches small batches exhaustively). It reports
// whether e is in.
func (b *batch) add(e *entrant) (bool, error) {
	uses := make([][]int, len(e.opts))
	for k := range e.opts {
		uses[k] = b.uses(e, k) // every resource registered before left sizes rem
	}
	rem := b.left(b.pick)
	for k := range e.opts {
		if fits(rem, uses[k], e.opts[k].Count) {
			b.in = append(b.in, e)
			b.pick = append(b.pick, k)
			b.resim()
			return true, nil
		}
	}
	if len(b.in) == 0 {
		return false, nil
	}
	if b.searched[e.r.ID] {
		return false, errSearchSkipped
	}
	if b.searches != nil {
		if *b.searches <= 0 {
			return false, errSearchesSpent
		}
		*b.searches--
	}
	if b.searched != nil {
		b.searched[e.r.ID] = true
	}
	sol, err := assignFleet(b.problem(e))
	if err != nil {
		return false, err
	}
	if sol.Waiting > 0 {
		return false, nil
	}
	b.in = append(b.in, e)
	b.pick = sol.Choice
	b.resim()
	return true, nil
}

// resim works out what runs would hold with the batch admitted.
func (b *batch) resim() {
	b.hasSlack = nil
	sim := b.u.without(store.Hold{}, "") // a copy
	for i, e := range b.in {
		pl := e.opts[b.pick[i]]
		sim.pool[poolKey{pl.Site, pl.Pool}] += pl.Count
		if sim.tenant[e.r.Tenant] == nil {
			sim.tenant[e.r.Tenant] = map[string]int{}
		}
		sim.tenant[e.r.Tenant][pl.Accelerator] += pl.Count
	}
	b.sim = sim
}

func (b *batch) cost(pick []int) float64 {
	total := 0.0
	for i, k := range pick {
		total += b.in[i].opts[k].CostUSD
	}
	return total
}

// oneAtATime is the arrangement admitting the batch's runs one at a time
// in admission order would give, each at its best-ranked option with room
// left: waiting counts the runs it leaves without a place.
func (b *batch) oneAtATime() (pick []int, waiting int) {
	pick = make([]int, len(b.in))
	rem := append([]int(nil), b.room...)
	for i, e := range b.in {
		pick[i] = -1
		for k := range e.opts {
			u := b.uses(e, k)
			if fits(rem, u, e.opts[k].Count) {
				for _, r := range u {
					rem[r] -= e.opts[k].Count
				}
				pick[i] = k
				break
			}
		}
		if pick[i] < 0 {
			waiting++
		}
	}
	return pick, waiting
}

// settle fixes where the batch's runs go: the cheapest complete
// arrangement found, where admitting them one at a time in admission order
// is kept unless another is strictly cheaper and gives no run whose job
// ranks by time a worse-ranked place (one at a time follows the planner's
// ranks). A batch of one takes its best-ranked place, as a run alone
// always has. note says why, when the assignment is not what one at a time
// would give.
func (b *batch) settle() (note string, err error) {
	if len(b.in) < 2 {
		return "", nil
	}
	best, bestCost := b.pick, b.cost(b.pick)
	sol, err := assignFleet(b.problem(nil))
	if err != nil {
		return "", err
	}
	if sol.Waiting == 0 && sol.Cost < bestCost-costEpsilon(bestCost) {
		best, bestCost = sol.Choice, sol.Cost
	}
	seq, waiting := b.oneAtATime()
	if waiting == 0 {
		seqCost := b.cost(seq)
		if seqCost <= bestCost+costEpsilon(bestCost) || !b.keepsRanks(best, seq) {
			b.pick = seq
			b.resim()
			return "", nil
		}
		// Every run's release carries the note, so it gives no counts or
		// costs: a tenant learns nothing of other tenants' runs, not even
		// whether any were in the batch beside its own.
		note = "placed by the fleet assignment of the waiting runs, which costs less in all than admitting them one at a time"
	} else {
		note = "placed by the fleet assignment of the waiting runs, which places all of them where admitting them one at a time would leave some waiting"
	}
	b.pick = best
	b.resim()
	return note, nil
}

// keepsRanks reports whether pick gives every run of the batch whose job
// does not rank by cost a place ranked as well as seq gives it.
func (b *batch) keepsRanks(pick, seq []int) bool {
	for i, e := range b.in {
		if !e.byCost && e.ranks[pick[i]] > e.ranks[seq[i]] {
			return false
		}
	}
	return true
}

func costEpsilon(x float64) float64 { return 1e-9 * math.Max(1, math.Abs(x)) }

// enter plans waiting run r for the batch against the room before it, the
// law as of now. A run with no runnable placement with room is recorded as
// still held (why, what it waits for) and enter returns nil.
func (c *Controller) enter(ctx context.Context, b *batch, r *Run) (*entrant, error) {
	w, job, left, err := c.jobLeft(r)
	if err != nil {
		_, err := c.failJudged(ctx, r, err, leftErr(r, err))
		return nil, err
	}
	// The sites it lost, as its sealed records say: a row whose list
	// was cut short outside Meridian is not planned. Its refusal is
	// logged once (excludedWarn), not at every pass.
	excluded, err := c.excludedConfirmed(ctx, r)
	if err != nil {
		if errors.Is(err, ErrRunChanged) && !c.excludedWarn(r.ID, err) {
			return nil, nil
		}
		return nil, err
	}
	ln := c.lawNow()
	asOf := c.today()
	plan, err := c.plan(ctx, c.freeWorld(b.u, w, r.Tenant), job, asOf, excluded)
	if err != nil {
		return nil, err
	}
	plan, held, err := c.lawfulOnRuleDay(r, w, job, plan, ln)
	if err != nil {
		return nil, err
	}
	if held != "" {
		return nil, c.stillHeld(ctx, r.ID, held, policy.CodeDenied, r.Hold.UntilRule, ln.Rev, "", nil)
	}
	e := &entrant{r: r, w: w, plan: plan, asOf: asOf, rev: ln.Rev, left: left, byCost: job.Spec.ObjectiveOrDefault() == "cost"}
	for i, pl := range plan.Placements {
		if pl.Runnable && pl.Count > 0 {
			e.opts = append(e.opts, pl)
			e.ranks = append(e.ranks, i+1)
		}
	}
	if len(e.opts) == 0 {
		return nil, c.notRunnable(ctx, r, w, b.u, plan, asOf, ln.Rev)
	}
	return e, nil
}

// commit settles the batch and admits its runs in admission order, each
// through the store's check of its limits; the runs left out are recorded
// as waiting behind it. It returns how many were admitted.
func (b *batch) commit(ctx context.Context) (admitted int) {
	c := b.c
	note, err := b.settle()
	if err != nil {
		c.cfg.Logger.Warn("admission: fleet assignment", "runs", len(b.in), "err", err)
		note = ""
	}
	rev := c.lawNow().Rev
	for i, e := range b.in {
		if ctx.Err() != nil {
			return admitted
		}
		if e.rev != rev {
			// The law changed since the run was planned: it is planned
			// again at the next pass, as its pools still have room.
			continue
		}
		k := b.pick[i]
		pl := e.opts[k]
		var skipped []Skipped
		for j := 0; j < e.ranks[k]-1; j++ {
			why := "no configured backend: a site for planning only"
			if e.plan.Placements[j].Runnable {
				why = "its room went to other waiting runs of the admission batch"
			}
			skipped = append(skipped, Skipped{Rank: j + 1, Site: e.plan.Placements[j].Site, Reason: why})
		}
		ok, err := c.release(ctx, e.r, e.w, b.u, e.plan, pl, e.ranks[k], skipped, e.asOf, e.rev, leftNote(note, e.left))
		if err != nil {
			c.cfg.Logger.Warn("admission", "run", e.r.ID, "tenant", e.r.Tenant, "err", err)
		}
		if ok {
			admitted++
		}
	}
	u := b.usage()
	for _, e := range b.out {
		if ctx.Err() != nil {
			return admitted
		}
		if err := c.waitBehind(ctx, b.base, u, e); err != nil {
			c.cfg.Logger.Warn("admission", "run", e.r.ID, "tenant", e.r.Tenant, "err", err)
		}
	}
	return admitted
}

// waitBehind records that e, lawful and runnable at pools with room for it
// alone, has no room once the runs ahead of it in the admission order are
// placed (u: what they would hold), with the room each of its pools has
// left for it.
func (c *Controller) waitBehind(ctx context.Context, base *catalog.World, u *usage, e *entrant) error {
	seen := map[poolKey]bool{}
	var wants []Want
	quota := ""
	// need caps the room recorded for a runnable option below its count:
	// the batch may have been rearranged after e was left out, so that an
	// option has room for e again, and e is then tried at the next pass.
	add := func(site string, pool int, acc string, need int) {
		k := poolKey{site, pool}
		s := base.Site(site)
		if seen[k] || s == nil || pool < 0 || pool >= len(s.Spec.Pools) {
			return
		}
		seen[k] = true
		n, q := c.roomFor(u, s, pool, e.r.Tenant)
		if q != "" && quota == "" {
			quota = q
		}
		if need > 0 {
			n = min(n, need-1)
		}
		wants = append(wants, Want{Site: site, Pool: pool, Accelerator: acc, Free: n})
	}
	for _, pl := range e.opts {
		add(pl.Site, pl.Pool, pl.Accelerator, pl.Count)
	}
	more, q := c.wantsOf(u, e.w, e.r.Tenant, e.plan)
	for _, wt := range more {
		add(wt.Site, wt.Pool, wt.Accelerator, 0)
	}
	if quota == "" {
		quota = q
	}
	wait := WaitCapacity
	if quota != "" {
		wait = WaitQuota
	}
	reason := fmt.Sprintf("waiting for %s as of %s: its %d lawful placements with room are taken by runs ahead of it in the admission order, however those are placed; lawful pools: %s",
		wait, e.asOf, len(e.opts), wantsText(wants))
	if quota != "" {
		reason += "; " + quota
	}
	return c.stillHeld(ctx, e.r.ID, reason, policy.CodeNotNow, "", e.rev, wait, wants)
}
