package run

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// Run drives every active run until ctx ends, while this controller holds
// the controller lease (leader.go): it waits for the lease, runs the loop
// for as long as it keeps it, and waits again when it loses it.
func (c *Controller) Run(ctx context.Context) error {
	c.life.Store(&ctx)
	for ctx.Err() == nil {
		lctx, release, err := c.acquire(ctx)
		if err != nil {
			return nil
		}
		c.newTerm()
		c.loop(lctx)
		release()
		if ctx.Err() == nil {
			c.cfg.Logger.Warn("stopped leading the controller loop", "replica", c.cfg.Replica)
		}
	}
	return nil
}

// loop ticks until ctx (one term of leadership) ends. The term ends only
// when the long steps it started (stagings, checkpoint moves) have.
func (c *Controller) loop(ctx context.Context) {
	long := &loopSteps{ctx: ctx}
	defer long.wg.Wait()
	ctx = context.WithValue(ctx, longStepsKey{}, long)
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	for {
		c.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.wake:
		}
	}
}

// newTerm forgets what a previous term of leadership (or another leader)
// believed about sites and agents: silence and unreachability count again
// from now.
func (c *Controller) newTerm() {
	c.mu.Lock()
	c.unreachable = map[string]time.Time{}
	c.drainFails = map[string]time.Time{}
	c.heartbeats = map[string]time.Time{}
	c.leftStops = nil   // the last term's stops have ended (loop): the moves still on ask their sites again (leftStopOwed)
	c.stillEnding = nil // a still-ending bound starts from this term's first answer, not a stale one of an earlier term
	// Another leader may have withdrawn, deferred or staged copies
	// meanwhile: the next law tick checks them all (retryWithdrawals).
	c.deferred, c.deferredTry, c.deferredFails, c.deferredBackoff = nil, time.Time{}, 0, nil
	c.mu.Unlock()
	// What this server's failed law checks did and how long it waits to
	// try again are of its last term: the loop's goroutine, which runs
	// lawTick, is the one here.
	c.lawFails, c.lawRetry, c.lawRetryRev, c.lawDone = 0, time.Time{}, 0, nil
	// Owners' updates are read again from the start of the log: those
	// after the last recorded check call for one (docUpdates).
	c.docSeq, c.docRead, c.docDue, c.checkedLaw = 0, false, "", ""
	// Runs that ended with sites still to sweep, by whichever leader:
	// read again from the start (sweepEnded).
	c.sweepScanAfter, c.sweepScanned, c.sweepRescan = "", false, false
	c.sweepOwed = owedScan{}
}

// Tick steps every active run until it stops changing, several runs at a
// time (Config.Workers), each run by one goroutine. The active runs are read
// a page at a time (eachActive), each page stepped before the next is read;
// the runs waiting for room are then admitted (admit).
func (c *Controller) Tick(ctx context.Context) {
	c.lawTick(ctx)
	c.recheckSites(ctx)
	active := map[string]bool{}
	var adm admission
	sem := make(chan struct{}, c.cfg.Workers)
	// held counts, by site, the steps this tick left for its site's
	// steps out past their bound (stepAdmit).
	held := map[string]int{}
	err := c.eachActive(ctx, func(rows []*store.Run) error {
		var wg sync.WaitGroup
		for _, row := range rows {
			active[row.ID] = true
			adm.add(c, row)
			if row.State == string(Held) {
				// A run waiting for room is the admission loop's (admit).
				// A cancelled one is stepped: it ends here.
				if r, err := c.decodeRow(row); err == nil && r.Hold != nil && r.Hold.Wait != "" && !r.CancelRequested {
					continue
				}
			}
			sem <- struct{}{}
			// Asked once a worker is free: a step of the run's, or of
			// its site's, that ran out of time meanwhile counts.
			switch c.stepAdmit(row.ID, row.Site) {
			case stepRunOut:
				<-sem
				continue
			case stepSiteFull:
				held[row.Site]++
				<-sem
				continue
			}
			wg.Add(1)
			go func(id, tenant, site string) {
				defer func() { <-sem; wg.Done() }()
				for i := 0; i < 8 && ctx.Err() == nil; i++ {
					changed, err, back := c.boundedStep(ctx, id, tenant, site)
					if !back {
						// Out past its bound: it ends beside the loop
						// (boundedStep), and the run waits for it.
						return
					}
					if c.stepWarn(id, err) {
						c.cfg.Logger.Warn("step", "run", id, "tenant", tenant, "err", err)
					}
					if err != nil {
						return
					}
					if !changed {
						return
					}
				}
			}(row.ID, row.Tenant, row.Site)
		}
		wg.Wait()
		return nil
	})
	c.stepsHeld(held)
	if err != nil {
		c.cfg.Logger.Error("list runs", "err", err)
		return
	}
	c.prune(active)
	c.retryLeftStops(ctx)
	c.admitRuns(ctx, &adm)
	c.sweepEnded(ctx)
}

// activePage is how many active runs a pass over them (eachActive) reads
// at once: a run's documents may be megabytes, and every tenant's rows,
// read in one list, were held at once beside their decoded copies. The
// decoded runs themselves (decodeRow's cache, and the admission pass's
// runs) are still kept for every active run, without their documents.
var activePage = 256

// eachActive calls fn with every active run, a page of at most activePage
// at a time, in the list's order (by creation, then id), until fn fails.
// A run created meanwhile comes in a later page; none is skipped: the next
// page starts after the last run of the one before, whatever its state now.
func (c *Controller) eachActive(ctx context.Context, fn func(rows []*store.Run) error) error {
	after := ""
	for {
		rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Active: true, Final: FinalStates, AllTenants: true, After: after, Limit: activePage})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		if err := fn(rows); err != nil {
			return err
		}
		if len(rows) < activePage {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// prune drops what is cached of runs that are no longer active (keep
// holds the active ones' ids): their parsed worlds and decoded rows, and
// when their agents last reported.
func (c *Controller) prune(keep map[string]bool) {
	c.runWitness.prune(keep)
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.changedWarned {
		if !keep[strings.TrimPrefix(id, excludedWarnKey)] {
			delete(c.changedWarned, id)
		}
	}
	for id := range c.cancelRetries.runs {
		if !keep[id] {
			delete(c.cancelRetries.runs, id)
		}
	}
	for k := range c.leftStops {
		if !keepsAttempt(keep, k) {
			delete(c.leftStops, k)
		}
	}
	// Nor does a run that ended, or lost its site, while its job was
	// said to be still ending.
	for k := range c.stillEnding {
		if !keepsAttempt(keep, k) {
			delete(c.stillEnding, k)
		}
	}
	// A run ended or cancelled mid-drain leaves its count (drained never
	// ran for it).
	for k := range c.drainFails {
		if !keepsAttempt(keep, k) {
			delete(c.drainFails, k)
		}
	}
	if len(c.worlds) <= len(keep) && len(c.decoded) <= len(keep) && len(c.heartbeats) <= len(keep) {
		return
	}
	for id := range c.worlds {
		if !keep[id] {
			delete(c.worlds, id)
		}
	}
	for id := range c.decoded {
		if !keep[id] {
			delete(c.decoded, id)
		}
	}
	for k := range c.heartbeats {
		if !keepsAttempt(keep, k) {
			delete(c.heartbeats, k)
		}
	}
}

// keepsAttempt says whether k, an attempt's key (attemptKey), is of a
// run keep holds.
func keepsAttempt(keep map[string]bool, k string) bool {
	i := strings.LastIndexByte(k, '/')
	return i >= 0 && keep[k[:i]]
}

// decodeRow is fromRow, reusing the decoding of the same row version: a
// law check reads every active run, most unchanged since the last. The
// caller gets its own copy of the top-level struct, without the run's
// documents: a submission may be megabytes, and this cache holds every
// active run between passes, beside its parsed world. What needs the
// documents (world, on a miss of its cache) reads them from the store.
func (c *Controller) decodeRow(row *store.Run) (*Run, error) {
	c.mu.Lock()
	r := c.decoded[row.ID]
	c.mu.Unlock()
	if r == nil || r.version != row.Version {
		var err error
		if r, err = fromRow(row); err != nil {
			return nil, err
		}
		r.Documents = nil
		c.mu.Lock()
		c.decoded[row.ID] = r
		c.mu.Unlock()
	}
	cp := *r
	return &cp, nil
}

// stepTimeout bounds one step, so that a hung scheduler command cannot
// stall the loop for every other run.
const stepTimeout = time.Minute

// stepGrace is how long past stepTimeout Tick waits for a step to end on
// its own: to see its context ended, or to record what a part of it
// bounded by its own stepTimeout (a sweep before the step) found.
const stepGrace = 30 * time.Second

// stepWait is how long Tick waits for one step: a healthy step may take
// a stepTimeout for its sweep (sweepCheckpoints) and another for the rest,
// and a stepGrace past both. A context bounds only what looks at it: a site's state
// directory on a file server that stopped answering holds a Slurm
// backend's Status, Cancel, Clean or Submit in the kernel for as long as
// it does not answer, and a step held there held the tick's page, and so
// every run of every site, with it. One out past stepWait is left to end
// beside the loop (boundedStep). A variable: the tests shorten it.
var stepWait = 2*stepTimeout + stepGrace

// stuckPerSite is how many steps of one site's runs may be out past
// stepWait at once. Past it the site's other runs are not stepped (the
// tick logs it) until one of them ends: a hung site holds at most
// stuckPerSite+Config.Workers-1 goroutines, however long it hangs and
// however many runs it has. A variable: the tests lower it.
var stuckPerSite = 4

// stepsOut is what of the steps that ran past stepWait is still out
// (Controller.stepsOut, under Controller.mu).
type stepsOut struct {
	// runs holds the runs whose step is out, with the site it was
	// counted against: none is stepped again until that step ends.
	runs map[string]string
	// sites counts the steps out by site.
	sites map[string]int
	// total counts every step that ran past stepWait since the server
	// started; ended those of them that have ended since.
	total, ended int64
	// held counts the steps ticks left for their site's steps out.
	held int64
	// logged is when a site's held steps were last logged (stepsHeld).
	logged map[string]time.Time
}

// StepCounts is how many steps are out past stepWait now, how many ran
// past it since the server started, and how many times a tick left a run
// for its site's steps out (the figures /metrics exports). Zero on a nil
// controller (a scrape before the server made one).
func (c *Controller) StepCounts() (out, late, held int64) {
	if c == nil {
		return 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stepsOut.total - c.stepsOut.ended, c.stepsOut.total, c.stepsOut.held
}

// stepAdmission is whether Tick may step a run now (stepAdmit).
type stepAdmission int

const (
	stepGo stepAdmission = iota
	// stepRunOut: the run's own step is still out.
	stepRunOut
	// stepSiteFull: its site has stuckPerSite steps out.
	stepSiteFull
)

// stepAdmit says whether Tick may step run id, whose row names site.
func (c *Controller) stepAdmit(id, site string) stepAdmission {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.stepsOut.runs[id]; ok {
		return stepRunOut
	}
	if c.stepsOut.sites[site] >= stuckPerSite {
		return stepSiteFull
	}
	return stepGo
}

// stepsHeld logs, by site, the steps a tick left because the site has
// stuckPerSite steps out: at most once a minute a site (the tick comes
// every few seconds while it hangs).
func (c *Controller) stepsHeld(held map[string]int) {
	if len(held) == 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	type line struct {
		site      string
		held, out int
	}
	var lines []line
	if c.stepsOut.logged == nil {
		c.stepsOut.logged = map[string]time.Time{}
	}
	for site, n := range held {
		c.stepsOut.held += int64(n)
		if last, ok := c.stepsOut.logged[site]; ok && now.Sub(last) < time.Minute {
			continue
		}
		c.stepsOut.logged[site] = now
		lines = append(lines, line{site, n, c.stepsOut.sites[site]})
	}
	c.mu.Unlock()
	for _, l := range lines {
		c.cfg.Logger.Warn("steps of a site's runs wait: the site has as many steps out past their bound as it may", "site", l.site,
			"waiting", l.held, "out", l.out, "bound", stepWait)
	}
}

// stepResult is what a step returned.
type stepResult struct {
	changed bool
	err     error
}

// boundedStep steps run id (tenant's, at site) and waits at most stepWait
// for it. back is false when the step ran past that: it is logged and
// counted, and left to end beside the loop, the run kept out of every
// later tick (stepAdmit) until it has, so that no two steps of a run are
// ever out at once. When it ends, its error is logged as any step's, and
// the loop woken to step the run again. What it still writes, it writes
// only onto the run as it read it (stepGuard): one changed meanwhile (its
// agent's report, a cancel, the law) keeps its newer state, and the late
// write is dropped.
func (c *Controller) boundedStep(ctx context.Context, id, tenant, site string) (changed bool, err error, back bool) {
	g := &stepGuard{run: id}
	done := make(chan stepResult, 1)
	go func() {
		ch, err := c.Step(context.WithValue(ctx, stepGuardKey{}, g), id)
		done <- stepResult{ch, err}
	}()
	t := time.NewTimer(stepWait)
	defer t.Stop()
	select {
	case res := <-done:
		return res.changed, res.err, true
	case <-t.C:
	}
	c.mu.Lock()
	g.late.Store(true)
	o := &c.stepsOut
	if o.runs == nil {
		o.runs, o.sites = map[string]string{}, map[string]int{}
	}
	o.runs[id] = site
	o.sites[site]++
	o.total++
	out, total := o.sites[site], o.total
	c.mu.Unlock()
	c.cfg.Logger.Warn("step out past its bound: the run waits for it, the loop goes on without it", "run", id, "tenant", tenant, "site", site,
		"bound", stepWait, "siteOut", out, "total", total)
	start := time.Now()
	go func() {
		res := <-done
		c.mu.Lock()
		delete(o.runs, id)
		if o.sites[site]--; o.sites[site] <= 0 {
			delete(o.sites, site)
		}
		o.ended++
		c.mu.Unlock()
		c.cfg.Logger.Warn("step out past its bound ended", "run", id, "tenant", tenant, "site", site,
			"took", time.Since(start)+stepWait, "changed", res.changed, "err", res.err)
		c.stepWarn(id, res.err)
		c.Nudge()
	}()
	return false, nil, false
}

// errStepLate is a write of a step that ran past stepWait (boundedStep)
// refused because its run changed after the step read it.
var errStepLate = errors.New("the step ran past its bound and the run changed meanwhile: what it found is dropped")

// stepGuardKey marks a step's context (boundedStep): its value, a
// *stepGuard, is what update checks the step's writes against.
type stepGuardKey struct{}

// stepGuard is one step of run: the row version it last read or wrote,
// and whether Tick stopped waiting for it. Once late, its writes of run
// go through only onto that version (update).
type stepGuard struct {
	run     string
	version atomic.Int64
	late    atomic.Bool
}

// stepGuardOf is ctx's step guard where it is of run id.
func stepGuardOf(ctx context.Context, id string) *stepGuard {
	if g, ok := ctx.Value(stepGuardKey{}).(*stepGuard); ok && g != nil && g.run == id {
		return g
	}
	return nil
}

// stale says whether a write of the guarded step onto row version v is
// refused: the step is late and the row is no longer the one it knew.
func (g *stepGuard) stale(v int64) bool {
	return g != nil && g.late.Load() && v != g.version.Load()
}

// wrote records v as the row version the step last saw.
func (g *stepGuard) wrote(v int64) {
	if g != nil {
		g.version.Store(v)
	}
}

// Step moves run id one step. It reports whether the durable state changed.
// Under a fenced context (the loop's) it does nothing once this controller's
// lease has lapsed by its own clock.
func (c *Controller) Step(ctx context.Context, id string) (bool, error) {
	if f, ok := store.FenceOf(ctx); ok {
		if epoch, leading := c.Leading(); !leading || epoch != f.Epoch {
			return false, ErrNotLeader
		}
	}
	row, err := c.cfg.Store.GetRun(ctx, id)
	if err != nil {
		return false, err
	}
	stepGuardOf(ctx, id).wrote(row.Version)
	r, err := fromRow(row)
	if err != nil {
		return false, err
	}
	if c.longStepRunning(r) {
		return false, nil
	}
	// The site a step talks to is the one the run's newest sealed
	// placement decision names (confirmSite). A queued or running run
	// whose row names another is left as it is, marked changed outside
	// Meridian: its step asks no site about it, cancels and cleans up
	// nothing there, until the row is put back. A planned or staging
	// run's step fails it, as its world does (confirmPlace).
	if err := c.runWitness.confirmSite(ctx, c.cfg.Store, r); err != nil && !placeConfirmed(r.State) {
		if r.CancelRequested && errors.Is(err, ErrRunChanged) {
			// Its cancel still reaches the workload: at the site its
			// sealed records name (cancelChanged).
			return c.cancelChanged(ctx, r, err)
		}
		return false, err
	}
	// A held or moving run is held to its sealed placements as well: it
	// moves only to the target its newest one names (confirmMove). One
	// changed is left as it is; cancelled, it ends with no site told.
	if err := c.runWitness.confirmMove(ctx, c.cfg.Store, r, c.lossClock()); err != nil {
		if r.CancelRequested && errors.Is(err, ErrRunChanged) {
			return c.cancelChangedMoving(ctx, r, err)
		}
		return false, err
	}
	// The sites it lists to sweep are sites it was placed at
	// (checkSwept): a row listing another is refused its step, and
	// nothing is swept; a cancelled one still ends, unswept. A site a
	// sealed move left and no sealed record says was swept is swept
	// though its row no longer lists it (the sweep puts it back).
	sweep := len(r.Swept) > 0
	if missing, err := c.runWitness.checkSwept(ctx, c.cfg.Store, r); err != nil {
		if !r.CancelRequested || !errors.Is(err, ErrRunChanged) {
			return false, err
		}
		sweep = false
	} else if len(missing) > 0 {
		sweep = true
	}
	if sweep {
		// A site the run left may keep its checkpoints: removed there
		// where the law no longer lets its data be (sweepCheckpoints),
		// within a step's bound.
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		c.sweepCheckpoints(sctx, r.ID)
		cancel()
	}
	// A cancelled run that is held or moving ends here, before migrate:
	// one cancelled while its site could not be told (the cancel failing
	// past the site timeout is what lost the site) goes nowhere else, its
	// checkpoint copied nowhere.
	if r.CancelRequested && (r.State == Held || r.State == Migrating) {
		return c.cancelMoving(ctx, r)
	}
	if r.State == Staging && r.Staged != r.Attempt && !r.CancelRequested {
		if c.cfg.Now().Before(r.StageNext) {
			// A store's passing failure stopped the last try: the next
			// waits for its time (stageFailed).
			return false, nil
		}
		if r.StageUnreserved {
			// The pool was given up for the wait: taken again first.
			if took, err := c.reacquire(ctx, r); err != nil || !took {
				return err == nil, err
			}
		}
		return c.longStep(ctx, r, c.stageData)
	}
	if r.State == Migrating && r.Migration != nil && r.Migration.Target != nil {
		return c.longStep(ctx, r, c.migrate)
	}
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	switch r.State {
	case Planned:
		return c.stage(ctx, r)
	case Staging:
		return c.submit(ctx, r)
	case Queued, Running, Checkpointed:
		return c.monitor(ctx, r)
	case Migrating:
		return c.migrate(ctx, r)
	case Held:
		return c.retryHeld(ctx, r, false)
	}
	return false, nil
}

// longStepsKey marks the loop's context: under it a long step (a staging
// or a checkpoint move, up to StageTimeout) runs beside the loop instead of
// inside its tick, so that one run's hour of staging does not hold every
// other run's steps, the agents' silence checks and the law check for that
// hour. Outside the loop (a direct Step) it runs in the call.
type longStepsKey struct{}

// loopSteps is what runs beside the loop (longStepsKey's value): its
// goroutines, which the loop waits for as it ends, and the loop's own
// context, which outlives each step's and ends with the loop.
type loopSteps struct {
	wg  sync.WaitGroup
	ctx context.Context
}

// longStep runs fn on r under StageTimeout: in the call, or, under the
// loop, in a goroutine of the loop's term, reporting no change now; the
// loop is woken when it ends.
func (c *Controller) longStep(ctx context.Context, r *Run, fn func(context.Context, *Run) (bool, error)) (bool, error) {
	long, ok := ctx.Value(longStepsKey{}).(*loopSteps)
	if !ok {
		sctx, cancel := context.WithTimeout(ctx, c.cfg.StageTimeout)
		defer cancel()
		return fn(sctx, r)
	}
	// Not the step's that started it, which Tick waits for: its
	// writes are not held to that step's guard (boundedStep).
	if g := stepGuardOf(ctx, r.ID); g != nil && g.late.Load() {
		// The step that read r ran past its bound: r may be stale, and
		// what starts here would not be held to the step's guard. The
		// run's next step starts it from the row as it is then.
		return false, nil
	}
	sctx, cancel := context.WithTimeout(context.WithValue(ctx, stepGuardKey{}, (*stepGuard)(nil)), c.cfg.StageTimeout)
	c.mu.Lock()
	// One at a time per run, and at most Config.Workers in all, as when
	// they ran inside Tick's workers: a run past that waits a tick.
	if _, busy := c.long[r.ID]; busy || len(c.long) >= c.cfg.Workers {
		c.mu.Unlock()
		cancel()
		return false, nil
	}
	c.long[r.ID] = longRun{state: r.State, cancel: cancel}
	c.mu.Unlock()
	long.wg.Add(1)
	go func() {
		defer long.wg.Done()
		defer c.Nudge()
		defer func() {
			c.mu.Lock()
			delete(c.long, r.ID)
			c.mu.Unlock()
			cancel()
		}()
		if _, err := fn(sctx, r); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, store.ErrFenced) {
			c.cfg.Logger.Warn("step", "run", r.ID, "tenant", r.Tenant, "err", err)
		}
	}()
	return false, nil
}

// longRun is a long step in flight: the state it began in, and how to stop
// it.
type longRun struct {
	state  State
	cancel context.CancelFunc
}

// longStepRunning reports whether a long step of r is in flight; its other
// steps wait for it. One that r has moved on from (cancelled, or sent
// elsewhere by the law while it staged) is stopped.
func (c *Controller) longStepRunning(r *Run) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.long[r.ID]
	if ok && (r.State != l.state || r.CancelRequested) {
		l.cancel()
	}
	return ok
}

// stepWarn says whether the loop logs err, the error of a step of run id.
// A run changed outside Meridian has its every step refused, the same way
// until its row is put back: its refusal is logged once, and again only
// when it says something else, or after a step of the run went through.
// Logged at every tick (each run's, every few seconds), whoever can write
// the database could fill the server's log with one row. A server that is
// not the leader, or fenced, logs nothing of it.
func (c *Controller) stepWarn(id string, err error) bool {
	if err == nil || errors.Is(err, ErrNotLeader) || errors.Is(err, store.ErrFenced) {
		if err == nil {
			c.mu.Lock()
			if len(c.changedWarned) > 0 {
				delete(c.changedWarned, id)
			}
			c.mu.Unlock()
		}
		return false
	}
	if !errors.Is(err, ErrRunChanged) {
		return true
	}
	sum := sha256.Sum256([]byte(err.Error()))
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.changedWarned[id]; ok && last == sum {
		return false
	}
	if c.changedWarned == nil {
		c.changedWarned = map[string][sha256.Size]byte{}
	}
	c.changedWarned[id] = sum
	return true
}

// cancelChanged carries the cancel of r, a queued or running run whose row
// was changed outside Meridian (changed says how), to its workload: at the
// site its newest sealed placement decision names, not the row's, by the
// handle the sealed state record of its submission there names, or, with
// none, by finding the attempt that decision places (backend.Finder).
// The cancel itself must be sealed too (Cancel's decision record): a flag
// written on the row alone stops nothing. The run then ends cancelled; its
// row's sites are neither asked nor cleaned. Where no sealed record names
// the site (or the job there), nothing is sent anywhere: the run's reason
// and timeline say so, once, and its step is refused as before.
func (c *Controller) cancelChanged(ctx context.Context, r *Run, changed error) (bool, error) {
	job, err := c.runWitness.sealedJobOf(ctx, c.cfg.Store, r)
	if err != nil {
		return false, err
	}
	if !job.cancelled {
		return false, changed
	}
	if job.site == "" {
		return c.cancelNotSent(ctx, r, changed, "no sealed decision record names its site")
	}
	cctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	be, err := c.backendFor(r, job.site)
	if err != nil {
		return c.cancelNotSent(ctx, r, changed, fmt.Sprintf("its sealed site %s has no backend: %s", job.site, c.backendReason(r, err)))
	}
	if last, wait := c.cancelWaiting(r.ID); wait {
		return false, fmt.Errorf("%w (its cancel, refused by its sealed site %s, waits to be tried again: %s)", changed, job.site, last)
	}
	h := job.handle
	if h == "" {
		f, ok := be.(backend.Finder)
		if !ok || job.attempt < 1 {
			return c.cancelNotSent(ctx, r, changed, fmt.Sprintf("no sealed record names its job at its sealed site %s", job.site))
		}
		found := false
		if h, found, err = f.Find(cctx, r.ID, job.attempt); err != nil {
			return c.cancelRefused(ctx, r, job.site, job.attempt, "", err,
				fmt.Errorf("run %s: find attempt %d at %s to cancel: %w", r.ID, job.attempt, job.site, err))
		}
		if !found {
			return c.cancelNotSent(ctx, r, changed, fmt.Sprintf("its attempt %d is not found at its sealed site %s", job.attempt, job.site))
		}
	}
	if err := be.Cancel(cctx, h); err != nil {
		// Tried again, after a wait (cancelRefused): a site that does
		// not answer is not lost for it, the row's site being the
		// attacker's.
		return c.cancelRefused(ctx, r, job.site, job.attempt, h, err, fmt.Errorf("run %s: cancel at %s: %w", r.ID, job.site, err))
	}
	c.cancelCarried(r.ID)
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || !placeWatched(r.State) || !r.CancelRequested {
			return store.ErrNoChange
		}
		return transition(ch, r, Cancelled, fmt.Sprintf("cancelled by the user: attempt %d's job %s stopped at %s, the site its newest sealed placement names; its row, changed outside Meridian, names %s",
			job.attempt, h, job.site, r.Site))
	})
	return err == nil, err
}

// cancelNotSent records, once, that r's cancel was sent to no site (why),
// and refuses its step as changed says.
func (c *Controller) cancelNotSent(ctx context.Context, r *Run, changed error, why string) (bool, error) {
	msg := reasonText("cancel requested, but sent to no site: " + why + "; its row was changed outside Meridian")
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.Reason == msg {
			return store.ErrNoChange
		}
		r.Reason = msg
		ch.Events = append(ch.Events, store.Event{Kind: "cancel-not-sent", Reason: msg})
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNoChange) {
		return false, err
	}
	return false, fmt.Errorf("%w (%s)", changed, msg)
}

// cancelChangedMoving ends r, a held or moving run whose row was changed
// outside Meridian (changed says how), cancelled: no site its row names is
// told or cleaned, since the row is not what Meridian wrote. The cancel
// must be sealed (Cancel's decision record), not the row's flag alone.
// The attempt it leaves (a moving run's drains at the site it leaves) is
// stopped first: the one its newest sealed submission record names, at
// that record's site, by that record's handle. A site that does not
// answer is asked again at its next step, unless a sealed record says the
// run lost it (then the stop is best effort, as for any run that moves).
func (c *Controller) cancelChangedMoving(ctx context.Context, r *Run, changed error) (bool, error) {
	job, err := c.runWitness.sealedJobOf(ctx, c.cfg.Store, r)
	if err != nil {
		return false, err
	}
	if !job.cancelled {
		return false, changed
	}
	told := "no sealed record names an attempt it left"
	if l := job.left; l.handle != "" {
		told = fmt.Sprintf("attempt %d's job %s at %s, the site it leaves as its sealed records name it, ", l.attempt, l.handle, l.site)
		be, err := c.backendFor(r, l.site)
		if err != nil {
			told += "not told: the site has no backend: " + c.backendReason(r, err)
		} else {
			if last, wait := c.cancelWaiting(r.ID); wait {
				return false, fmt.Errorf("%w (its cancel, refused by %s, the site it leaves, waits to be tried again: %s)", changed, l.site, last)
			}
			cctx, cancel := context.WithTimeout(ctx, stepTimeout)
			err = be.Cancel(cctx, l.handle)
			if errors.Is(err, backend.ErrNotFound) {
				// Gone only where the site's Status does not know the
				// job either, or says it ended (statusNotGone), as for
				// any cancel: the handle is the sealed record's own.
				st, serr := be.Status(cctx, l.handle)
				if why := statusNotGone(st, serr); why != "" {
					err = &stopError{err, why}
				}
			}
			cancel()
			var notGone *stopError
			switch {
			case err == nil:
				told += "stopped"
			case errors.Is(err, backend.ErrNotFound) && !errors.As(err, &notGone):
				told += "not found there"
			case job.leftLost:
				// A not found its Status did not back is an answer, not
				// a stop: the site did not confirm it.
				did := "did not answer"
				if notGone != nil {
					did = "did not confirm the stop: " + notGone.note
				}
				told += fmt.Sprintf("not stopped (the site, which it lost, %s: %s)", did, c.loggedClass(r, l.site, "cancel the attempt a run leaves", err))
			default:
				return c.cancelRefused(ctx, r, l.site, l.attempt, l.handle, err,
					fmt.Errorf("run %s: cancel attempt %d at %s, the site it leaves: %w", r.ID, l.attempt, l.site, err))
			}
			c.cancelCarried(r.ID)
		}
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if (r.State != Held && r.State != Migrating) || !r.CancelRequested {
			return store.ErrNoChange
		}
		r.Hold, r.Migration = nil, nil
		return transition(ch, r, Cancelled, reasonText("cancelled by the user; its row was changed outside Meridian, so no site it names was told; "+told))
	})
	return err == nil, err
}

// A cancel its site refuses (an error other than the job not found: a
// scheduler that answers for a job it no longer knows with one of its own,
// a site that does not answer) is tried again, each wait twice the last,
// from cancelRetryFirst up to cancelRetryMax, and never given up: the
// workload may still run, and bill, there. Tried at every step, one
// refusing site had Meridian ask it at every tick, for ever, and nobody
// told. Once refused cancelReportTries times, or for cancelReportAfter,
// the run's reason and timeline say the cancel was not carried, and an
// audit record (KindCancelNotCarried) says so, once per server process.
const (
	cancelRetryFirst  = 5 * time.Second
	cancelRetryMax    = 5 * time.Minute
	cancelReportTries = 6
	cancelReportAfter = 10 * time.Minute
)

// KindCancelNotCarried is the audit kind of a run's cancel that its site
// kept refusing: its workload may still run there.
const KindCancelNotCarried = "cancel-not-carried"

// cancelRetries is, by run, how the retries of its refused cancel stand
// (under Controller.mu).
type cancelRetries struct {
	// now tells the time of the retries: time.Now but in tests.
	now  func() time.Time
	runs map[string]*cancelRetry
}

// cancelRetry is one run's refused cancel: how many times its site
// refused it, since when, its last answer, and when it is tried again.
type cancelRetry struct {
	tries       int
	first, next time.Time
	last        string
	reported    bool
}

func (c *Controller) cancelClock() time.Time {
	if c.cancelRetries.now != nil {
		return c.cancelRetries.now()
	}
	return time.Now()
}

// cancelRetryWait is the wait after the n-th refusal of a cancel.
func cancelRetryWait(n int) time.Duration {
	return min(cancelRetryFirst<<min(max(n-1, 0), 20), cancelRetryMax)
}

// cancelWaiting says whether run id's refused cancel waits to be tried
// again, with its site's last refusal.
func (c *Controller) cancelWaiting(id string) (string, bool) {
	now := c.cancelClock()
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.cancelRetries.runs[id]
	if t == nil || !now.Before(t.next) {
		return "", false
	}
	return t.last, true
}

// cancelCarried forgets run id's refused cancel: its site took it.
func (c *Controller) cancelCarried(id string) {
	c.mu.Lock()
	delete(c.cancelRetries.runs, id)
	c.mu.Unlock()
}

// cancelRefused counts a refusal (siteErr) of r's cancel by site, of
// attempt's job handle ("" when it could not be found), and returns
// stepErr, the step's error. Past the bounds, the run's reason and
// timeline say, and an audit record says, that the cancel could not be
// carried to the site.
func (c *Controller) cancelRefused(ctx context.Context, r *Run, site string, attempt int, handle string, siteErr, stepErr error) (bool, error) {
	now := c.cancelClock()
	// The site's own words go to the server's log, not to the run's
	// tenant (siteFault): the reason, timeline and audit record say the
	// error's class.
	why := c.loggedClass(r, site, "cancel", siteErr)
	c.mu.Lock()
	if c.cancelRetries.runs == nil {
		c.cancelRetries.runs = map[string]*cancelRetry{}
	}
	t := c.cancelRetries.runs[r.ID]
	if t == nil {
		t = &cancelRetry{first: now}
		c.cancelRetries.runs[r.ID] = t
	}
	t.tries++
	t.next, t.last = now.Add(cancelRetryWait(t.tries)), why
	report := !t.reported && (t.tries >= cancelReportTries || now.Sub(t.first) >= cancelReportAfter)
	tries, since := t.tries, now.Sub(t.first).Round(time.Second)
	c.mu.Unlock()
	if !report {
		return false, stepErr
	}
	nc := notCarried{site: site, attempt: attempt, handle: handle, tries: tries, since: since, why: why}
	msg := reasonText(fmt.Sprintf("cancel requested, but %s; tried again every %s", nc, cancelRetryMax))
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || !r.CancelRequested {
			return store.ErrNoChange
		}
		r.Reason = msg
		return cancelNotCarried(ch, r, nc, msg)
	})
	if err != nil && !errors.Is(err, store.ErrNoChange) {
		return false, errors.Join(stepErr, err)
	}
	if err == nil {
		c.mu.Lock()
		if t := c.cancelRetries.runs[r.ID]; t != nil {
			t.reported = true
		}
		c.mu.Unlock()
	}
	return false, stepErr
}

// notCarried is a cancel its site did not confirm: the site, the
// attempt and its job's handle ("" when not found), how many times over
// how long it was refused, and the site's last answer (bounded).
type notCarried struct {
	site    string
	attempt int
	handle  string
	tries   int
	since   time.Duration
	why     string
}

func (n notCarried) String() string {
	if n.tries <= 1 {
		return fmt.Sprintf("not carried to site %s: its last try to stop attempt %d was not confirmed within %s (%s); its workload may still run there",
			n.site, n.attempt, n.since, n.why)
	}
	return fmt.Sprintf("not carried to site %s: it refused the cancel of attempt %d %d times over %s (last: %s); its workload may still run there",
		n.site, n.attempt, n.tries, n.since, n.why)
}

// cancelNotCarried adds to ch what says that r's cancel was not carried
// to its site (n): a KindCancelNotCarried audit record and an event of
// its timeline (msg). Every cancel that ends or waits unconfirmed by its
// site is recorded by it: one refused again and again (cancelRefused),
// and one whose run leaves or left its site (cancelMoving).
func cancelNotCarried(ch *store.Change, r *Run, n notCarried, msg string) error {
	rec, err := audit.NewRecord(KindCancelNotCarried, r.ID, map[string]any{
		"site": n.site, "attempt": n.attempt, "handle": n.handle, "tries": n.tries, "seconds": int64(n.since / time.Second), "error": n.why,
	})
	if err != nil {
		return err
	}
	rec.Tenant = catalog.TenantOr(r.Tenant)
	ch.Audit = append(ch.Audit, rec)
	ch.Events = append(ch.Events, store.Event{Kind: KindCancelNotCarried, Reason: msg})
	return nil
}
