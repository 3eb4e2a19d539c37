package run

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// Capacity accounting. A run holds its placement's accelerators at its
// pool from the moment it is placed to the end of its attempt (holdOf);
// the row carries the hold, and every change that takes a hold carries the
// limits it must stay within (the pool's availability, the tenant's and
// its cohort's quotas), which the store checks in the same transaction,
// serialised. Two runs can therefore never be given the same last
// accelerators, on one server or several. Planning sees each pool's
// availability less what runs hold there, so a full pool is "not now".

// Waits of a held run that waits for room rather than for the law.
const (
	WaitCapacity = "capacity"
	WaitQuota    = "quota"
)

// Want is a lawful pool a waiting run could use once it has room, with
// how many were free for the run (capacity and quota) when it last tried.
type Want struct {
	Site        string `json:"site"`
	Pool        int    `json:"pool"`
	Accelerator string `json:"accelerator"`
	Free        int    `json:"free"`
}

// holdOf is what r holds in its state: its placement's accelerators
// while placed, staging or running; during a move, the attempt being
// drained, else the target once it is chosen; nothing otherwise.
func holdOf(r *Run) store.Hold {
	pl := func(site string, p planner.Placement) store.Hold {
		if site == "" || p.Count <= 0 {
			return store.Hold{}
		}
		return store.Hold{Site: site, Pool: p.Pool, Accelerator: p.Accelerator, Count: p.Count}
	}
	switch r.State {
	case Planned, Staging, Queued, Running, Checkpointed:
		if r.State == Staging && r.StageUnreserved && r.StageTries > 0 {
			return store.Hold{} // waiting to try its staging again
		}
		return pl(r.Site, r.Placement)
	case Migrating:
		if r.Migration == nil {
			return store.Hold{}
		}
		if r.Migration.Drain {
			return pl(r.Site, r.Placement)
		}
		if t := r.Migration.Target; t != nil {
			if r.Migration.Unreserved && r.Migration.MoveTries > 0 {
				return store.Hold{} // waiting to try its copy again
			}
			return pl(t.Site, *t)
		}
	}
	return store.Hold{}
}

// reserveWait is the longest wait before a retry (a staging's, a
// checkpoint's copy) for which a run keeps its pool. A run that waits
// for a store for seconds keeps it: given up, another run could take it
// between the tries and the run would lose its place for a passing fault.
// One that waits minutes gives it up for the wait, rather than keep
// accelerators idle that other runs could use for all that time, and
// takes it again when it tries (reacquire).
const reserveWait = 2 * time.Minute

// reacquire takes again the pool run r gave up while it waited to retry
// its staging or its checkpoint's copy, through the store's check of the
// pool's and the quotas' limits, and says whether it did (r then says so
// too): the try goes on in the same step. When the pool is gone, a
// staging run waits held for room, and a move plans again; when the run
// changed meanwhile, nothing is written: the next step reads it again.
func (c *Controller) reacquire(ctx context.Context, r *Run) (bool, error) {
	staging := r.State == Staging
	attempt := r.Attempt
	took := false
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		took = false
		switch {
		case staging && r.State == Staging && r.Attempt == attempt && r.StageUnreserved:
			r.StageUnreserved = false
		case !staging && r.State == Migrating && r.Migration != nil && r.Migration.Target != nil && r.Migration.Unreserved:
			r.Migration.Unreserved = false
		default:
			return store.ErrNoChange
		}
		took = true
		return nil
	})
	if err == nil && took {
		if staging {
			r.StageUnreserved = false
		} else {
			r.Migration.Unreserved = false
		}
		return true, nil
	}
	ce, full := capacityErr(err)
	if !full {
		return false, err
	}
	if staging {
		rev := c.lawNow().Rev
		wants := []Want{{Site: r.Site, Pool: r.Placement.Pool, Accelerator: r.Placement.Accelerator}}
		why := fmt.Sprintf("the pool at %s, given up while staging attempt %d waited to be tried again, has no room now: %s", r.Site, r.Attempt, ce.Error())
		_, err := c.holdWait(ctx, r, why, policy.CodeNotNow, "", rev, waitOf(ce), wants)
		return false, err
	}
	target := *r.Migration.Target
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if !movingTo(r, target) || !r.Migration.Unreserved {
			return store.ErrNoChange
		}
		r.Migration.setTarget(nil)
		ch.Events = append(ch.Events, store.Event{Kind: "replanned", Reason: fmt.Sprintf("the pool at %s, given up while the checkpoint's copy waited to be tried again, has no room now (%s): the move is planned again", target.Site, ce.Error())})
		return nil
	})
	return false, err
}

// capacityWorld is the server's catalog with its extra sites (serve's
// local site): every site a run can hold a pool of, assembled once.
func (c *Controller) capacityWorld() (*catalog.World, error) {
	c.capOnce.Do(func() {
		cs, err := c.catalog()
		if err != nil {
			c.capErr = err
			return
		}
		c.capWorld, c.capErr = catalog.Assemble(planner.AssumptionKeys(), cs, &catalog.Set{Sites: c.cfg.ExtraSites})
	})
	return c.capWorld, c.capErr
}

// poolKey names a site's pool.
type poolKey struct {
	site string
	pool int
}

// reported is a site's own figure of what it can give Meridian's jobs.
type reported struct {
	n  int
	at time.Time
}

// usage is what the runs hold, read from the store.
type usage struct {
	pool   map[poolKey]int
	tenant map[string]map[string]int // tenant → accelerator → held
}

func (c *Controller) usage(ctx context.Context) (*usage, error) {
	hs, err := c.cfg.Store.Holds(ctx)
	if err != nil {
		return nil, &storeReadError{fmt.Errorf("accelerators held: %w", err)}
	}
	u := &usage{pool: map[poolKey]int{}, tenant: map[string]map[string]int{}}
	for _, h := range hs {
		u.pool[poolKey{h.Site, h.Pool}] += h.Count
		if u.tenant[h.Tenant] == nil {
			u.tenant[h.Tenant] = map[string]int{}
		}
		u.tenant[h.Tenant][h.Accelerator] += h.Count
	}
	return u, nil
}

// matched adds up what u holds under l (l.Site unset).
func (u *usage) matched(l store.Limit) int {
	n := 0
	for t, accs := range u.tenant {
		if len(l.Tenants) > 0 && !slices.Contains(l.Tenants, t) {
			continue
		}
		for a, k := range accs {
			if len(l.Accelerators) == 0 || slices.Contains(l.Accelerators, a) {
				n += k
			}
		}
	}
	return n
}

// poolLimit is how many of site's pool i Meridian's runs may hold at once:
// what the site last reported, when it has reported since the catalog was
// read, else the catalog's available figure.
func (c *Controller) poolLimit(site *catalog.Site, i int) int {
	c.mu.Lock()
	rep, ok := c.reported[poolKey{site.Metadata.Name, i}]
	c.mu.Unlock()
	if ok && rep.at.After(c.start) {
		return min(rep.n, site.Spec.Pools[i].Count)
	}
	return site.Spec.Pools[i].Available
}

// limits are what a hold by tenant must stay within.
func (c *Controller) limits(w *catalog.World, tenant string, h store.Hold) []store.Limit {
	if h.Count <= 0 {
		return nil
	}
	max := 0
	if s := w.Site(h.Site); s != nil && h.Pool >= 0 && h.Pool < len(s.Spec.Pools) {
		max = c.poolLimit(s, h.Pool)
	}
	out := []store.Limit{{Name: fmt.Sprintf("pool %d (%s) of Site/%s", h.Pool, h.Accelerator, h.Site), Site: h.Site, Pool: h.Pool, Max: max}}
	return append(out, c.quotas().Limits(tenant, h.Accelerator)...)
}

// roomFor is how many of pool i at site tenant may take now: the pool's
// limit less what runs hold there, and no more than the tenant's quotas
// leave. quota says whether a quota, not the pool, is the tighter bound.
func (c *Controller) roomFor(u *usage, site *catalog.Site, i int, tenant string) (n int, quota string) {
	p := site.Spec.Pools[i]
	n = c.poolLimit(site, i) - u.pool[poolKey{site.Metadata.Name, i}]
	for _, l := range c.quotas().Limits(tenant, p.Accelerator) {
		// A quota that binds as tightly as the pool is named: it is what
		// the tenant can change (and a quota of 0 never frees up).
		if left := l.Max - u.matched(l); left < n || (left == n && quota == "" && left < p.Count) {
			n, quota = left, fmt.Sprintf("%s: %d of %d held", l.Name, u.matched(l), l.Max)
		}
	}
	return max(n, 0), quota
}

// freeWorld is w as tenant's next placement sees it: each pool's
// availability is the room it has for tenant now.
func (c *Controller) freeWorld(u *usage, w *catalog.World, tenant string) *catalog.World {
	return w.WithAvailable(func(s *catalog.Site, i int, p catalog.Pool) int {
		n, _ := c.roomFor(u, s, i, tenant)
		return n
	})
}

// wantsOf lists the pools a plan refused only because they were full
// (lawful, but no room now), with the room each had.
func (c *Controller) wantsOf(u *usage, w *catalog.World, tenant string, plan *planner.Plan) (wants []Want, quota string) {
	seen := map[poolKey]bool{}
	for _, rj := range plan.Rejected {
		if rj.Kind != planner.KindCapacity {
			continue
		}
		// Room at a site for planning only is nothing to wait for:
		// nothing would start the run there.
		s := w.Site(rj.Site)
		if s == nil || !s.Runnable() {
			continue
		}
		for i, p := range s.Spec.Pools {
			k := poolKey{rj.Site, i}
			if p.Accelerator != rj.Accelerator || seen[k] {
				continue
			}
			seen[k] = true
			n, q := c.roomFor(u, s, i, tenant)
			if q != "" && quota == "" {
				quota = q
			}
			wants = append(wants, Want{Site: rj.Site, Pool: i, Accelerator: p.Accelerator, Free: n})
		}
	}
	return wants, quota
}

// refusedWants lists the pools a run waits for after the store refused the
// hold of a placement that had room when it was planned (another run took
// the room first): the pools of placements, each of the run's runnable
// placements, and those the plan refused as full (wantsOf), with the room
// each has in u, the usage the plan was made with. A runnable placement's
// room is recorded as at most one less than its count: the run is tried
// again as soon as any of them has room for it, not only when one has more
// room than the plan saw (which may never come).
func (c *Controller) refusedWants(u *usage, w *catalog.World, tenant string, plan *planner.Plan, placements []planner.Placement) (wants []Want, quota string) {
	seen := map[poolKey]bool{}
	for _, p := range placements {
		s := w.Site(p.Site)
		k := poolKey{p.Site, p.Pool}
		if !p.Runnable || s == nil || p.Pool < 0 || p.Pool >= len(s.Spec.Pools) || seen[k] {
			continue
		}
		seen[k] = true
		n, q := c.roomFor(u, s, p.Pool, tenant)
		if q != "" && quota == "" {
			quota = q
		}
		wants = append(wants, Want{Site: p.Site, Pool: p.Pool, Accelerator: p.Accelerator, Free: min(n, p.Count-1)})
	}
	more, q := c.wantsOf(u, w, tenant, plan)
	for _, wt := range more {
		if !seen[poolKey{wt.Site, wt.Pool}] {
			wants = append(wants, wt)
		}
	}
	if quota == "" {
		quota = q
	}
	return wants, quota
}

// capacityErr reports whether err is a store refusal for capacity.
func capacityErr(err error) (*store.CapacityError, bool) {
	var ce *store.CapacityError
	ok := errors.As(err, &ce)
	return ce, ok
}

// waitOf says whether a refusal was for a quota or for capacity.
func waitOf(ce *store.CapacityError) string {
	if ce.Limit.Site == "" {
		return WaitQuota
	}
	return WaitCapacity
}

// CapacityReporter is a backend that can say, per accelerator, how many
// the site can give Meridian's jobs now (free ones plus those its jobs
// from this server hold). Its figure replaces the catalog's available
// count of the site's pools of that accelerator from then on; the key
// backend.SiteAccelerator counts every pool of the site (the built-in
// backends know one kind of accelerator per site, not its catalog name).
// Capacity may block for a round trip to the site; the caller bounds it
// with ctx.
type CapacityReporter interface {
	Capacity(ctx context.Context) (map[string]int, error)
}

// ReportCapacity records a site's own figure of what it can give, per
// accelerator, as of at (the controller's poll of CapacityReporter backends
// and tests call it). A figure older than the one recorded is ignored.
func (c *Controller) ReportCapacity(site *catalog.Site, free map[string]int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range site.Spec.Pools {
		n, ok := free[p.Accelerator]
		if !ok {
			if n, ok = free[backend.SiteAccelerator]; !ok {
				continue
			}
		}
		k := poolKey{site.Metadata.Name, i}
		if old, ok := c.reported[k]; ok && old.at.After(at) {
			continue
		}
		c.reported[k] = reported{n: max(n, 0), at: at}
	}
}

// PollCapacity asks each site whose backend reports capacity
// (CapacityReporter) what it can give now, each site bounded by the site
// check's timeout, and records the answers. The controller polls with every
// site recheck (Config.SiteRecheck); serve polls once before its API opens,
// so that the first placements already see the sites' own figures.
func (c *Controller) PollCapacity(ctx context.Context) { c.pollCapacity(ctx) }

// pollCapacity asks each site whose backend reports capacity for it.
func (c *Controller) pollCapacity(ctx context.Context) {
	w, err := c.capacityWorld()
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, s := range w.Sites {
		if !Checked(s) && s.Spec.Backend.Type != catalog.BackendLocal {
			continue
		}
		be, err := c.siteBackend(s)
		if err != nil {
			continue
		}
		cr, ok := be.(CapacityReporter)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, siteCheckTimeout)
			defer cancel()
			free, err := cr.Capacity(cctx)
			if err != nil {
				c.cfg.Logger.Warn("site capacity", "site", s.Metadata.Name, "err", err)
				return
			}
			c.ReportCapacity(s, free, c.cfg.Now())
		}()
	}
	wg.Wait()
}

// QueueEntry is a run waiting for room: who waits, for what, and why.
type QueueEntry struct {
	Run      string    `json:"run"`
	Tenant   string    `json:"tenant"`
	Job      string    `json:"job"`
	Priority int       `json:"priority"`
	Wait     string    `json:"wait"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"`
	// Position is the run's place among the tenant's own held runs in the
	// admission order (1 first); other tenants' runs are not counted, so
	// that a tenant learns nothing of theirs.
	Position int    `json:"position"`
	Wants    []Want `json:"wants,omitempty"`
	// Key is the entry's place in the admission order, the cursor of a
	// page that ends with it (QueueAfter); the server's, not the entry's
	// JSON.
	Key QueueKey `json:"-"`
}

// Queue lists tenant's held runs in admission order: those waiting for
// room (capacity or quota) and those held by the law, each with its
// reason.
func (c *Controller) Queue(ctx context.Context, tenant string) ([]QueueEntry, error) {
	q, _, err := c.QueuePage(ctx, tenant, 0, -1)
	return q, err
}

// QueuePage is the part of Queue after position after (0: from the first),
// at most limit entries (a negative limit: all of them); more says entries
// follow the page. Only the page's entries are made: a tenant with many
// held runs costs a request the walk of the admission order, not an entry
// of each.
func (c *Controller) QueuePage(ctx context.Context, tenant string, after, limit int) (page []QueueEntry, more bool, err error) {
	held, _, _, err := c.heldOrder(ctx, tenant)
	if err != nil {
		return nil, false, err
	}
	pos := 0
	for _, r := range held {
		if r.Tenant != tenant {
			continue
		}
		pos++
		if pos <= after {
			continue
		}
		if limit >= 0 && len(page) == limit {
			return page, true, nil
		}
		page = append(page, queueEntry(r, pos))
	}
	return page, false, nil
}

// queueFresh is how long an admission order computed for one GET
// /v1/queue answers the next ones, of any tenant, while this controller
// makes no write that can move the order (a run created, a held run or a
// run's hold changed, the quotas reloaded; not progress or checkpoints):
// what another replica writes shows within it, or within queueCostFactor
// times what computing the order last took, whichever is longer.
var queueFresh = time.Second

// queueCostFactor bounds the share of the server that GET /v1/queue's
// calls take when nothing moves the order: an order that took d to
// compute answers every call of every tenant for this many times d
// (queueMaxFresh bounds it), so that computing it takes at most a fifth
// of one core (one computation runs at a time).
// With 10,000 held runs, where an order takes a second or more, a fixed
// queueFresh let one tenant's calls keep a core computing it all the
// time. A write of this controller that can move the order still ends
// the window at once. (A variable for the benchmarks that compute it each
// call.)
var queueCostFactor time.Duration = 4

// queueMaxFresh caps how long after it was computed an order answers
// calls on queueCostFactor's account: one computation slowed by a passing
// stall (a collection, a slow disk, the store's lock) made the window four
// times that stall, a minute's stall four minutes in which no run another
// replica held, admitted or cancelled showed. 10 s is twice what the
// factor gives at the size it was set for (about 4–5 s with 10,000 held
// runs on a loaded two-core machine), so the fifth of a core holds there
// and beyond: the cap binds only for an order that took over 3.3 s to
// compute, and computing then takes at most took/(took+10 s) of a core
// however often calls come. The cap counts from the computation's end,
// not its start: counted from the start, an order slower than the cap
// would answer no call after it was computed, and a tenant calling in a
// loop would keep a core computing it.
var queueMaxFresh = 10 * time.Second

// queueClock is the clock heldOrder times the order's age and its
// computing by (a test's, to make the computing seem slow).
var queueClock = time.Now

// queueMemo is the admission order of every tenant's held runs that
// heldOrder last computed, with the time and the count of writes
// (Controller.orderWrites) when it began reading: the age of what it read
// counts from then. mu serialises the computing, so that calls arriving
// together read the store once.
type queueMemo struct {
	mu     sync.Mutex
	at     time.Time
	took   time.Duration // what computing held took
	writes uint64
	held   []*Run
	u      *usage // what the order was computed from
	// q is the quotas the shares of the order were computed with: a
	// reload after that does not reorder held (QueueAfter compares keys
	// by these shares, not the reloaded ones).
	q *fleet.Quotas
}

// heldOrder is every tenant's held runs in admission order, for a call
// of tenant. Any tenant may ask, and each answer needs all of them, so
// one computation answers every call within its freshness
// (queueMemo.fresh) unless this controller made a write since it began
// that can move the caller's places (orderWrites.since). The runs it
// returns are shared: read, never written, and so are u, the accelerators
// held that the order was computed from, and q, the quotas it was
// computed with.
func (c *Controller) heldOrder(ctx context.Context, tenant string) (held []*Run, u *usage, q *fleet.Quotas, err error) {
	m := &c.queue
	arrived := queueClock()
	m.mu.Lock()
	defer m.mu.Unlock()
	writes, now := c.orderWrites.count(), queueClock()
	// An order whose reading began after this call arrived holds every
	// write made before it: calls that waited for one computation take it,
	// rather than each computing again for the writes of a busy fleet.
	if m.held != nil && (!m.at.Before(arrived) || !c.orderWrites.since(tenant, m.writes) && now.Sub(m.at) < m.fresh()) {
		return m.held, m.u, m.q, nil
	}
	// Only the held runs (the running runs are most of the active ones),
	// without their documents, which the order does not read (and which
	// the decoded runs the loop keeps must not lose: fromRow, not
	// decodeRow).
	rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{States: []string{string(Held)}, AllTenants: true, NoDocuments: true})
	if err != nil {
		return nil, nil, nil, err
	}
	if u, err = c.usage(ctx); err != nil {
		return nil, nil, nil, err
	}
	held = []*Run{}
	for _, row := range rows {
		if row.State != string(Held) {
			continue
		}
		r, err := fromRow(row)
		if err != nil {
			// Not admitted: what it waits for is in the record that does
			// not read. The others still are.
			c.cfg.Logger.Error("admission: a held run's stored record does not read", "run", row.ID, "tenant", row.Tenant, "err", err)
			continue
		}
		held = append(held, r)
	}
	q = c.quotas()
	admissionOrderIn(q, u, held)
	m.at, m.took, m.writes, m.held, m.u, m.q = now, queueClock().Sub(now), writes, held, u, q
	c.orderWrites.forget(writes)
	return held, u, q, nil
}

// orderWrites counts a controller's writes that can move the admission
// order, and marks whose places in it each can move. A call of GET
// /v1/queue shows only its tenant's runs, placed among its own: their
// order is their tenant's share of each family (what its own runs hold,
// its own quotas), then priority and arrival (admissionOrder), none of
// which another tenant's run changes. So a write of one tenant's run (a
// run submitted, held, admitted or cancelled, a hold taken or given back)
// makes that tenant's next call compute the order again, not every
// tenant's: a busy tenant's submissions no longer make each call of the
// others compute every tenant's held runs (35 µs each). A reload of the
// quotas moves every tenant's places.
type orderWrites struct {
	mu  sync.Mutex
	n   uint64 // writes so far
	all uint64 // n at the last write that can move every tenant's places
	// tenant is n at each tenant's last write after the order kept was
	// computed (older marks are forgotten: no call compares with them),
	// so it holds the tenants that wrote since, not every tenant ever.
	tenant map[string]uint64
	// holds is each tenant whose holds a write changed (a run admitted,
	// released or given back its room), with n at that write. The store
	// may answer Holds a commit old (SQLite reads it on a reader
	// connection beside the writer), while the held runs are read as
	// committed: the first order computed after such a write may pair
	// the run list that write left with holds from before it. So the mark
	// outlasts that computation (holdMark.seen) and the tenant's next call
	// computes the order once more, from holds read again, rather than
	// keeping a mixed order up to queueMaxFresh.
	holds map[string]holdMark
}

// holdMark is a tenant's last write that changed its holds: n at it, and
// whether an order computed after it was kept already.
type holdMark struct {
	at   uint64
	seen bool
}

// wrote counts a write that can move tenant's places ("": every
// tenant's). It is called once the write is committed (or failed), so a
// computation that counts it (count) before reading reads the write.
func (w *orderWrites) wrote(tenant string) { w.mark(tenant, false) }

// wroteHolds is wrote for a write that changed tenant's holds: besides
// the next order, the one computed after it is not kept for tenant's
// calls (orderWrites.holds).
func (w *orderWrites) wroteHolds(tenant string) { w.mark(tenant, true) }

// mark counts a write for tenant, and one that changed its holds (holds),
// under one lock: a count never sees the write without its holds' mark.
func (w *orderWrites) mark(tenant string, holds bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if tenant == "" {
		w.all = w.n
		return
	}
	if w.tenant == nil {
		w.tenant = map[string]uint64{}
	}
	w.tenant[tenant] = w.n
	if holds {
		if w.holds == nil {
			w.holds = map[string]holdMark{}
		}
		w.holds[tenant] = holdMark{at: w.n}
	}
}

// count is the writes so far.
func (w *orderWrites) count() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// since reports whether a write counted after the first n can move
// tenant's places.
func (w *orderWrites) since(tenant string, n uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, holds := w.holds[tenant]
	return w.all > n || w.tenant[tenant] > n || holds
}

// forget drops the marks of the tenants' writes among the first n, which
// an order computed after counting n holds: since is asked of no older
// order.
func (w *orderWrites) forget(n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for t, at := range w.tenant {
		if at <= n {
			delete(w.tenant, t)
		}
	}
	// A change of holds among them outlasts the first order computed
	// after it, which may have read the holds a commit old.
	for t, h := range w.holds {
		switch {
		case h.at > n:
		case h.seen:
			delete(w.holds, t)
		default:
			w.holds[t] = holdMark{at: h.at, seen: true}
		}
	}
}

// fresh is how long after it began reading m's order answers calls while
// this controller writes nothing that can move it: queueFresh, or
// queueCostFactor times what computing it took when that is longer, but
// never more than queueMaxFresh after the computing ended.
func (m *queueMemo) fresh() time.Duration {
	return max(queueFresh, min(queueCostFactor*m.took, m.took+queueMaxFresh))
}

// admissionOrder sorts waiting runs in the order they are admitted: the
// tenant furthest below its nominal share of the accelerators it waits
// for first (fair share across tenants; a tenant without a quota counts
// what it holds), then first come, first served. A run's priority orders
// its own tenant's runs only: the runs of one tenant at one share take
// that tenant's places in arrival order, highest priority first, so that
// no tenant moves its runs ahead of another's by its priorities.
func (c *Controller) admissionOrder(u *usage, runs []*Run) {
	admissionOrderIn(c.quotas(), u, runs)
}

// admissionOrderIn is admissionOrder by the quotas q: one set for the
// whole sort, whatever is reloaded meanwhile.
func admissionOrderIn(q *fleet.Quotas, u *usage, runs []*Run) {
	share := make(map[*Run]float64, len(runs))
	type group struct {
		tenant string
		share  float64
	}
	groups := map[group][]*Run{}
	for _, r := range runs {
		share[r] = shareIn(q, u, r)
		g := group{r.Tenant, share[r]}
		groups[g] = append(groups[g], r)
	}
	arrival := func(a, b *Run) int {
		if n := a.CreatedAt.Compare(b.CreatedAt); n != 0 {
			return n
		}
		return strings.Compare(a.ID, b.ID)
	}
	// place is the run whose arrival r takes.
	place := make(map[*Run]*Run, len(runs))
	for _, g := range groups {
		slots := slices.Clone(g)
		slices.SortFunc(slots, arrival)
		slices.SortFunc(g, func(a, b *Run) int {
			if a.Priority != b.Priority {
				return b.Priority - a.Priority
			}
			return arrival(a, b)
		})
		for i, r := range g {
			place[r] = slots[i]
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		if share[a] != share[b] {
			return share[a] < share[b]
		}
		return arrival(place[a], place[b]) < 0
	})
}

// shareIn is the fraction of its nominal quota in q that r's tenant
// holds of the family r waits for (held accelerators, without a quota).
func shareIn(q *fleet.Quotas, u *usage, r *Run) float64 {
	acc := ""
	if r.Hold != nil && len(r.Hold.Wants) > 0 {
		acc = r.Hold.Wants[0].Accelerator
	}
	held := 0
	for a, n := range u.tenant[r.Tenant] {
		if acc == "" || q.FamilyOf(r.Tenant, a) == q.FamilyOf(r.Tenant, acc) {
			held += n
		}
	}
	if nom, ok := q.Nominal(r.Tenant, acc); ok && acc != "" {
		if nom == 0 {
			return float64(held) + 1e9
		}
		return float64(held) / float64(nom)
	}
	return float64(held)
}

// wantsGrew reports whether any pool r waits for has more room than when
// it last tried.
func (c *Controller) wantsGrew(u *usage, w *catalog.World, r *Run) bool {
	for _, wt := range r.Hold.Wants {
		s := w.Site(wt.Site)
		if s == nil || wt.Pool >= len(s.Spec.Pools) {
			continue
		}
		if n, _ := c.roomFor(u, s, wt.Pool, r.Tenant); n > wt.Free {
			return true
		}
	}
	return false
}

// passedOver is the runs an admission pass did not try, each to be tried
// once a run of its tenant of lower priority that may take an accelerator
// it waits for is placed. Each run is filed under its tenant and each
// accelerator it waits for, highest priority first, so that a run placed
// looks only at the runs it must try first: a tenant's thousands of
// waiting runs of one priority cost the pass nothing for each run placed.
type passedOver struct {
	by   map[passedKey]*passedHeap
	done map[*Run]bool
	seq  int
}

type passedKey struct{ tenant, accelerator string }

// passedRun is a run passed over, with its place in the pass's order.
type passedRun struct {
	r   *Run
	seq int
}

// passedHeap orders a tenant's passed-over runs highest priority first.
type passedHeap []passedRun

func (h passedHeap) Len() int { return len(h) }
func (h passedHeap) Less(i, j int) bool {
	if h[i].r.Priority != h[j].r.Priority {
		return h[i].r.Priority > h[j].r.Priority
	}
	return h[i].seq < h[j].seq
}
func (h passedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *passedHeap) Push(x any)   { *h = append(*h, x.(passedRun)) }
func (h *passedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newPassedOver() *passedOver {
	return &passedOver{by: map[passedKey]*passedHeap{}, done: map[*Run]bool{}}
}

// add files r, passed over, under each accelerator it waits for.
func (p *passedOver) add(r *Run) {
	p.seq++
	seen := map[string]bool{}
	for _, wt := range r.Hold.Wants {
		if seen[wt.Accelerator] {
			continue
		}
		seen[wt.Accelerator] = true
		k := passedKey{r.Tenant, wt.Accelerator}
		h := p.by[k]
		if h == nil {
			h = &passedHeap{}
			p.by[k] = h
		}
		heap.Push(h, passedRun{r, p.seq})
	}
}

// take removes and returns, in the pass's order, the runs passed over of
// r's tenant of higher priority than r that wait for an accelerator among
// e's options: those to try before r is placed. looked counts the runs it
// looks at.
func (p *passedOver) take(r *Run, e *entrant, looked *int) []*Run {
	var out []passedRun
	seen := map[string]bool{}
	for _, pl := range e.opts {
		if seen[pl.Accelerator] {
			continue
		}
		seen[pl.Accelerator] = true
		h := p.by[passedKey{r.Tenant, pl.Accelerator}]
		for h != nil && h.Len() > 0 && (*h)[0].r.Priority > r.Priority {
			x := heap.Pop(h).(passedRun)
			*looked++
			if !p.done[x.r] {
				p.done[x.r] = true
				out = append(out, x)
			}
		}
	}
	slices.SortFunc(out, func(a, b passedRun) int { return a.seq - b.seq })
	runs := make([]*Run, len(out))
	for i, x := range out {
		runs[i] = x.r
	}
	return runs
}

// admitStats counts the admission loop's decisions (for benchmarks).
type admitStats struct {
	Considered, Tried, Admitted, Preempted int
	// Batches counts the batches of two or more runs assigned together.
	Batches int
	// Rechecked counts the passed-over runs looked at, when a run of their
	// tenant was placed, for one of higher priority to try first.
	Rechecked int
}

// admit goes through the runs waiting for room in admission order and
// plans again each one whose pools have more room than when it last tried
// (or whose retry is due), against the law as of now; the runs that can be
// placed together are admitted as a batch (batch.go), at least total cost.
// A run that stays waiting may preempt a lower-priority run of its tenant.
func (c *Controller) admit(ctx context.Context, rows []*store.Run) admitStats {
	var adm admission
	for _, row := range rows {
		adm.add(c, row)
	}
	return c.admitRuns(ctx, &adm)
}

// admission is what an admission pass works on, gathered from the active
// runs: those waiting for room, and those that hold it (which a waiting run
// may preempt).
type admission struct {
	waiting, active []*Run
	preemptable     bool
}

// add takes row into a, when the admission pass has a use for it.
func (a *admission) add(c *Controller, row *store.Run) {
	if row.State != string(Held) {
		if row.State == string(Checkpointed) || row.State == string(Running) || row.State == string(Migrating) {
			if r, err := c.decodeRow(row); err == nil {
				a.active = append(a.active, r)
				a.preemptable = a.preemptable || r.Checkpoint != nil
			}
		}
		return
	}
	r, err := c.decodeRow(row)
	if err != nil || r.Hold == nil || r.Hold.Wait == "" || r.CancelRequested {
		return // a cancelled run is not admitted: its step ends it
	}
	a.waiting = append(a.waiting, r)
}

// admitRuns is admit over the runs adm gathered.
func (c *Controller) admitRuns(ctx context.Context, adm *admission) admitStats {
	var st admitStats
	waiting, active, preemptable := adm.waiting, adm.active, adm.preemptable
	if len(waiting) == 0 {
		return st
	}
	u, err := c.usage(ctx)
	if err != nil {
		c.cfg.Logger.Warn("admission: holds", "err", err)
		return st
	}
	base, err := c.capacityWorld()
	if err != nil {
		return st
	}
	c.admissionOrder(u, waiting)
	now := c.cfg.Now()
	// searches is what is left of the pass's fleet searches (maxSearches),
	// over all its batches.
	searches := maxSearches
	if c.searched == nil {
		c.searched = map[string]bool{}
	}
	if c.tried == nil {
		c.tried = map[string]bool{}
	}
	b := c.newBatch(base, u)
	b.searches = &searches
	b.searched = c.searched
	var left []*Run // tried and not admitted: they may preempt
	// spent says the pass made its fleet searches, or its plans
	// (maxTries): it ends, and the run that found them spent, and those
	// after it, wait for the next pass untouched (nothing recorded of
	// them), in their order.
	spent := false
	tries := maxTries
	flush := func() bool {
		if len(b.in) == 0 && len(b.out) == 0 {
			return true
		}
		if len(b.in) > 1 {
			st.Batches++
		}
		n := b.commit(ctx)
		st.Admitted += n
		for _, e := range b.out {
			left = append(left, e.r)
		}
		if u, err = c.usage(ctx); err != nil {
			return false
		}
		b = c.newBatch(base, u)
		b.searches = &searches
		b.searched = c.searched
		return true
	}
	// try plans r again and lets it into the batch if it can be placed; it
	// reports whether r can be placed, and false in ok when the pass must
	// end (spent: it made its plans).
	try := func(r *Run) (e *entrant, ok bool) {
		if tries <= 0 {
			spent = true
			return nil, false
		}
		tries--
		c.tried[r.ID] = true
		st.Tried++
		e, err := c.enter(ctx, b, r)
		if err != nil {
			c.cfg.Logger.Warn("admission", "run", r.ID, "tenant", r.Tenant, "err", err)
			return nil, true
		}
		if e == nil {
			left = append(left, r)
			return nil, true
		}
		return e, true
	}
	place := func(e *entrant) bool {
		in, err := b.add(e)
		if errors.Is(err, errSearchesSpent) {
			spent = true
			delete(c.tried, e.r.ID) // untouched: tried first next pass
			return false
		}
		if errors.Is(err, errSearchSkipped) {
			// Untouched, as a run past a spent pass: it is searched for
			// once the round ends, with nothing recorded of it meanwhile.
			return true
		}
		if err != nil {
			c.cfg.Logger.Warn("admission: fleet assignment", "run", e.r.ID, "tenant", e.r.Tenant, "err", err)
		}
		if !in {
			b.out = append(b.out, e)
		}
		return len(b.in) < maxBatch || flush()
	}
	// passed holds the runs this pass did not try, by tenant and by the
	// accelerators they wait for.
	passed := newPassedOver()
	for _, r := range waiting {
		if ctx.Err() != nil {
			break
		}
		st.Considered++
		// Tried when its pools have more room than at its last try: left
		// by the batch so far, or before it where the batch could make
		// room by moving its runs to pools with room left. A run searched
		// for in this round of the searches tried then: its retry waits
		// for the round's end. A run planned again in this round of the
		// passes' plans (maxTries) waits for its end, whatever changed:
		// runs whose tries record nothing (a plan that fails) cannot take
		// every pass's plans from the runs behind them.
		if c.tried[r.ID] || (now.Before(r.Hold.NextTry) || c.searched[r.ID]) && !c.wantsGrew(b.usage(), base, r) && !(b.slack() && c.wantsGrew(b.u, base, r)) {
			passed.add(r)
			continue
		}
		e, ok := try(r)
		if !ok {
			break
		}
		if e == nil {
			continue
		}
		// A run is not placed while a run of its tenant ahead of it, of
		// higher priority, that waits for the accelerator it would take
		// goes untried: that run's last record of its pools may be
		// narrower than what it can use now. Those runs are tried first,
		// in their order.
		for _, h := range passed.take(r, e, &st.Rechecked) {
			he, ok := try(h)
			if !ok {
				break
			}
			if he != nil && !place(he) {
				if spent {
					break
				}
				return st
			}
		}
		if spent {
			delete(c.tried, r.ID) // untouched: tried first next pass
			break
		}
		if !place(e) {
			if spent {
				break
			}
			return st
		}
	}
	ok := flush()
	c.endSearchRound(waiting, spent)
	if !ok || !preemptable {
		return st
	}
	if c.preemptTried == nil {
		c.preemptTried = map[string]bool{}
	}
	plans, spentPlans := maxPreemptPlans, false
	for _, r := range left {
		if ctx.Err() != nil {
			spentPlans = true // the round goes on at the next pass
			break
		}
		if c.preemptTried[r.ID] {
			continue
		}
		cur, err := c.cfg.Store.GetRun(ctx, r.ID)
		if err != nil || cur.State != string(Held) {
			continue
		}
		w, err := fromRow(cur)
		if err != nil {
			continue
		}
		v, err := c.tryPreempt(ctx, u, w, active, &plans)
		if errors.Is(err, errPreemptPlansSpent) {
			spentPlans = true
			break
		}
		c.preemptTried[r.ID] = true
		if err != nil {
			c.cfg.Logger.Warn("preemption", "run", r.ID, "tenant", r.Tenant, "err", err)
		} else if v != nil {
			st.Preempted++
			// It moves now: no victim for the runs left after w (what
			// the pass read of it says it still runs).
			active = slices.DeleteFunc(active, func(a *Run) bool { return a.ID == v.ID })
			if u, err = c.usage(ctx); err != nil {
				spentPlans = true
				break
			}
		}
	}
	if !spentPlans {
		// Every run left waiting was weighed: the next pass weighs
		// them again from the head of the order.
		clear(c.preemptTried)
	}
	return st
}

// endSearchRound ends the round of the queue's fleet searches, and that of
// its plans (Controller.tried), when the pass spent neither (every run that
// needed one had one), so that the next pass goes from the head of the
// admission order again; a pass that spent them keeps the rounds, less the
// runs no longer waiting.
func (c *Controller) endSearchRound(waiting []*Run, spent bool) {
	if !spent {
		clear(c.searched)
		clear(c.tried)
		return
	}
	still := make(map[string]bool, len(waiting))
	for _, r := range waiting {
		still[r.ID] = true
	}
	for _, m := range []map[string]bool{c.searched, c.tried} {
		for id := range m {
			if !still[id] {
				delete(m, id)
			}
		}
	}
}

func wantsText(ws []Want) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s pool %d (%d free)", w.Site, w.Pool, w.Free)
	}
	return strings.Join(parts, ", ")
}

// planFor plans tenant's job with each pool's availability cut to the room
// it has for tenant now (freeWorld); it returns the usage it planned with.
func (c *Controller) planFor(ctx context.Context, tenant string, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, *usage, error) {
	u, err := c.usage(ctx)
	if err != nil {
		return nil, nil, err
	}
	plan, err := c.plan(ctx, c.freeWorld(u, w, tenant), job, asOf, exclude)
	return plan, u, err
}

// roomReason says why a run with lawful places waits: the first full
// pool's story, or the quota that binds.
func roomReason(asOf catalog.Date, wait, quota string, wants []Want, planReason string) string {
	if wait == WaitQuota && quota != "" {
		return fmt.Sprintf("waiting for quota as of %s: %s; lawful pools: %s", asOf, quota, wantsText(wants))
	}
	if len(wants) > 0 {
		return fmt.Sprintf("waiting for capacity as of %s: every lawful pool is full: %s", asOf, wantsText(wants))
	}
	return planReason
}
