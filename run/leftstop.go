package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// stopLeft asks the site r leaves to stop r's current attempt
// (stopAttempt), unless that was asked already: once per attempt (and
// term of leadership, leftStopOwed); a stop its site did not confirm is
// asked again (retryLeftStops) until it is confirmed, or for its window
// (leftStopWindow). It is given the bound a drain gives
// the same Cancel (drainCancelWait), above a local site's worst case (its
// grace, then its tree wait twice: 23 s at its defaults): cut at 5 s, a
// Cancel was stopped inside its grace, before its SIGKILL, and a workload
// deaf to SIGTERM (a site lost for its agent's silence, its job still
// running) ran on beside the run's next attempt. Its result is kept on
// the run (recordLeftStop): its timeline and the audit log say whether
// the site confirmed the stop. Under the loop it runs in a goroutine
// beside it, so that a site that does not answer holds no Tick worker
// (nor the page of runs it waits on) for the bound, as every run of a
// lost site re-plans at once; at most maxLeftStops at a time for one
// site, so that a site that does not answer holds none of another's. It
// says false where that many of the site's are in flight: the re-plan
// waits a tick (logged once for the attempt). While its first try is in
// flight the run's move waits for it (leftStopInFlight). Outside the
// loop (a direct Step) it runs in the call.
func (c *Controller) stopLeft(ctx context.Context, r *Run) bool {
	k := attemptKey(r.ID, r.Attempt)
	c.mu.Lock()
	ls := c.leftStops[k]
	if ls == nil {
		if c.leftStops == nil {
			c.leftStops = map[string]*leftStop{}
		}
		ls = newLeftStop(r)
		c.leftStops[k] = ls
	}
	c.mu.Unlock()
	return c.sendStop(ctx, k, ls, false)
}

// newLeftStop is where the stop of r's current attempt stands before its
// first try: what it stops is kept, without the run's documents (read
// again from the store where needed), for the tries after the run has
// moved on.
func newLeftStop(r *Run) *leftStop {
	left := *r
	left.Documents = nil
	left.Attempts = slices.Clone(r.Attempts)
	return &leftStop{left: left}
}

// sendStop sends ls's next try (its key k), once due and none is in
// flight, beside the loop under it, else in the call. forCancel is the
// try a cancelled moving run's step sends (cancelMoving): it is sent
// whatever the retries' schedule, and its result is the step's, not
// recorded on its own. It says false where the site's stops in flight
// fill its slots (maxLeftStops): nothing was sent, and the caller waits
// a tick.
func (c *Controller) sendStop(ctx context.Context, k string, ls *leftStop, forCancel bool) bool {
	long, beside := ctx.Value(longStepsKey{}).(*loopSteps)
	now := c.cancelClock()
	c.mu.Lock()
	if c.leftStops[k] != ls || ls.inFlight || (!forCancel && (ls.over || now.Before(ls.next))) {
		c.mu.Unlock()
		return true
	}
	site := ls.left.Site
	if beside && c.leftStopping[site] >= maxLeftStops {
		logged := ls.waitLogged
		ls.waitLogged = true
		c.mu.Unlock()
		if !logged {
			c.cfg.Logger.Warn("a run waits to stop the attempt it leaves: as many stops of its site's attempts as are let run at once are in flight", "run", ls.left.ID, "tenant", ls.left.Tenant, "site", site, "attempt", ls.left.Attempt, "inFlight", maxLeftStops)
		}
		return false
	}
	ls.waitLogged = false
	ls.inFlight, ls.forCancel = true, forCancel
	if beside {
		if c.leftStopping == nil {
			c.leftStopping = map[string]int{}
		}
		c.leftStopping[site]++
	}
	// The try's own copy: stopAttempt records a handle it finds on it.
	left := ls.left
	left.Attempts = slices.Clone(ls.left.Attempts)
	found := ls.found
	c.mu.Unlock()
	stop := func(ctx context.Context) {
		var h string
		var err error
		if found != "" {
			h, err = c.cancelFound(ctx, &left, found, drainCancelWait)
		} else {
			h, err = c.stopAttempt(ctx, &left, drainCancelWait)
		}
		c.stopTried(ctx, k, ls, beside, h, err)
	}
	if !beside {
		stop(ctx)
		return true
	}
	long.wg.Add(1)
	go func() {
		defer long.wg.Done()
		defer c.Nudge() // a step waiting for it (leftStopInFlight, cancelMoving) goes on
		stop(long.ctx)
	}()
	return true
}

// stopTried takes the result of one try of ls (its key k): h, the handle
// it used, and err, why the site did not confirm the stop (nil where it
// did). A stop not confirmed is asked again after a wait (cancelRetryWait,
// from the first try's end, within its window, leftStopWindow), and given
// up once the window is past. The first try's result, and the end of the
// retries, are kept on the run (recordLeftStop). A try cut short by ctx
// (the term of leadership ended, or the caller's step) is no answer of
// the site: it counts as no try, and the stop is sent again.
func (c *Controller) stopTried(ctx context.Context, k string, ls *leftStop, beside bool, h string, err error) {
	now := c.cancelClock()
	c.mu.Lock()
	if beside {
		site := ls.left.Site
		if c.leftStopping[site]--; c.leftStopping[site] <= 0 {
			delete(c.leftStopping, site)
		}
	}
	forCancel := ls.forCancel
	ls.inFlight, ls.forCancel = false, false
	if h != "" && h != ls.left.Handle {
		// A job the try found (the run held no handle of it): the next
		// tries stop it by that handle, as found (cancelFound).
		ls.found = h
	}
	if err != nil && ctx.Err() != nil {
		left := ls.left
		c.mu.Unlock()
		c.cfg.Logger.Info("the stop of the attempt a run leaves was cut short; it is sent again", "run", left.ID, "tenant", left.Tenant, "site", left.Site, "attempt", left.Attempt, "err", err)
		return
	}
	ls.handle, ls.err = h, err
	// The site took the stop, and its job is still ending (it traps
	// SIGTERM and pushes its last checkpoint): no failure of the site,
	// asked again until it says the job ended.
	stopping := errors.Is(err, backend.ErrStopping)
	ls.stopping = stopping
	if err != nil && !stopping {
		ls.failed = true
	}
	if forCancel {
		ls.cancelDone = true
	}
	if ls.over {
		// Over already (given up, or taken by the run's cancel): this
		// try is the cancel's last, its result the cancel's.
		ls.confirmed = ls.confirmed || err == nil
		c.mu.Unlock()
		return
	}
	out := leftStopResult{handle: h, err: err}
	switch {
	case err == nil:
		ls.over, ls.confirmed, ls.next = true, true, farFuture
		out.tries, out.outcome = ls.tries+1, leftStopped
	case errors.Is(err, errNoJobToStop):
		// Nothing to ask the site again for.
		ls.tries++
		ls.over, ls.next = true, farFuture
		out.tries, out.outcome = ls.tries, leftStopFailed
	default:
		ls.tries++
		if ls.tries == 1 {
			ls.first = now
		}
		out.tries, out.since = ls.tries, now.Sub(ls.first)
		until := ls.first.Add(c.leftStopWindow())
		switch {
		case !now.Before(until) && stopping && !ls.failed:
			// Every try in the window was taken, its job still ending.
			ls.over, ls.next = true, farFuture
			out.outcome = leftStopStillStopping
		case !now.Before(until):
			ls.over, ls.next = true, farFuture
			out.outcome = leftStopGivenUp
		default:
			ls.next = now.Add(cancelRetryWait(ls.tries))
			if ls.next.After(until) {
				ls.next = until
			}
			switch {
			case ls.tries == 1 && stopping:
				out.outcome = leftStopStopping
			case ls.tries == 1:
				out.outcome = leftStopUnconfirmed
			}
		}
	}
	if forCancel {
		// The cancel's step says what came of it (cancelMoving).
		out.outcome = ""
	}
	left := ls.left
	c.mu.Unlock()
	if stopping {
		c.cfg.Logger.Info("the attempt a run leaves is still ending; its site is asked again", "run", left.ID, "tenant", left.Tenant, "site", left.Site, "attempt", left.Attempt, "handle", h, "tries", out.tries, "over", out.outcome == leftStopStillStopping, "err", err)
	} else if err != nil {
		c.cfg.Logger.Warn("the attempt a run leaves was not confirmed stopped", "run", left.ID, "tenant", left.Tenant, "site", left.Site, "attempt", left.Attempt, "handle", h, "tries", out.tries, "over", out.outcome == leftStopGivenUp, "err", err)
	}
	if out.outcome != "" {
		c.recordLeftStop(ctx, &left, out)
	}
}

// retryLeftStops sends again, beside the loop, the stops of attempts that
// runs left whose sites did not confirm them, once each is due: whether
// or not the run's re-plan is itself tried again, and after the run has
// moved on. Outside the loop nothing is sent here (a re-plan tried again
// sends its own, stopLeft).
func (c *Controller) retryLeftStops(ctx context.Context) {
	if _, beside := ctx.Value(longStepsKey{}).(*loopSteps); !beside {
		return
	}
	now := c.cancelClock()
	type due struct {
		k  string
		ls *leftStop
	}
	var dues []due
	c.mu.Lock()
	for k, ls := range c.leftStops {
		if ls.tries > 0 && !ls.over && !ls.inFlight && !now.Before(ls.next) {
			dues = append(dues, due{k, ls})
		}
	}
	c.mu.Unlock()
	slices.SortFunc(dues, func(a, b due) int {
		switch {
		case a.k < b.k:
			return -1
		case a.k > b.k:
			return 1
		}
		return 0
	})
	for _, d := range dues {
		c.sendStop(ctx, d.k, d.ls, false)
	}
}

// leftStopInFlight says whether the first stop of r's current attempt,
// which its re-plan sent beside the loop (stopLeft), is still out: for at
// most its bound (drainCancelWait). The tries after it, of a stop its site
// did not confirm, do not hold the move.
func (c *Controller) leftStopInFlight(r *Run) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ls := c.leftStops[attemptKey(r.ID, r.Attempt)]
	return ls != nil && ls.inFlight && ls.tries == 0 && !ls.forCancel
}

// leftStopOwed sends, under the loop, the stop of r's current attempt,
// which r, moving with its target chosen, leaves, where this server has
// none on record (stopLeft): the re-plan that sent it ran under another
// leader, or before a restart, or in an earlier term (newTerm forgets
// them all), and what it came to is not known here. The move then waits
// for that first try (leftStopInFlight). It says false where the site's
// slots are full (maxLeftStops): the step waits a tick. Outside the loop
// (a direct Step) nothing is sent here.
func (c *Controller) leftStopOwed(ctx context.Context, r *Run) bool {
	if _, beside := ctx.Value(longStepsKey{}).(*loopSteps); !beside {
		return true
	}
	c.mu.Lock()
	_, known := c.leftStops[attemptKey(r.ID, r.Attempt)]
	c.mu.Unlock()
	if known {
		return true
	}
	return c.stopLeft(ctx, r)
}

// leftStopUnconfirmed says whether r's current attempt, at its site, has
// a stop on record (stopLeft) that its site has not confirmed: a run its
// re-plan held, cancelled, stops it for its cancel (cancelMoving).
func (c *Controller) leftStopUnconfirmed(r *Run) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ls := c.leftStops[attemptKey(r.ID, r.Attempt)]
	return ls != nil && !ls.confirmed && ls.left.Site == r.Site
}

// leftStopWindow is how long a stop its site did not confirm is asked
// again, from its first try's end: as long as the old attempt's workload
// may run on unasked, until its agent's lease ends (exitLag: the agents'
// lease, 10 min by default, never under twice the silence limit; as long
// where leases are off), and never less than the site timeout.
func (c *Controller) leftStopWindow() time.Duration {
	return max(c.cfg.SiteTimeout, c.exitLag())
}

// cancelFound is a try of the stop of r's current attempt by h, a job a
// try before it found at r's site (stopAttempt; r holds no handle of it),
// within wait: the site's not found is taken as the job gone where its
// Status does not show it live (notFoundGone: h is the site's own
// finding, named by no sealed submission). It returns h, and why the
// site did not confirm the stop, or nil.
func (c *Controller) cancelFound(ctx context.Context, r *Run, h string, wait time.Duration) (string, error) {
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		return h, err
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err = be.Cancel(cctx, h)
	if errors.Is(err, backend.ErrNotFound) {
		st, statusErr := be.Status(cctx, h)
		why, serr := c.notFoundGone(ctx, r, h, st, statusErr)
		if serr != nil {
			return h, &stopError{err, "the job its sealed submission names could not be read"}
		}
		if why != "" {
			return h, &stopError{err, why}
		}
		err = nil
	}
	return h, err
}

// stopForCancel stops r's current attempt, that r, a cancelled moving
// run, leaves, for its cancel (cancelMoving): a stop already confirmed
// is taken as it is; one in flight (a re-plan's, beside the loop) is
// waited for; else one last try is sent, beside the loop under it, so
// that a site that does not answer holds no Tick worker for its bound.
// It says whether the result is in (false: the step waits, and the try's
// end wakes the loop), the handle used, and why the site did not confirm
// the stop (nil where it did), with the tries that ended unconfirmed and
// how long since the first of them ended (leftStopResult: tries, since).
// The result taken, the stop is over: no more tries of it.
func (c *Controller) stopForCancel(ctx context.Context, r *Run) (bool, leftStopResult) {
	k := attemptKey(r.ID, r.Attempt)
	c.mu.Lock()
	ls := c.leftStops[k]
	if ls == nil {
		if c.leftStops == nil {
			c.leftStops = map[string]*leftStop{}
		}
		ls = newLeftStop(r)
		c.leftStops[k] = ls
	}
	if !ls.confirmed && !ls.cancelDone {
		inFlight := ls.inFlight
		c.mu.Unlock()
		if !inFlight {
			c.sendStop(ctx, k, ls, true)
		}
		c.mu.Lock()
		if !ls.confirmed && !ls.cancelDone {
			c.mu.Unlock()
			return false, leftStopResult{}
		}
	}
	if !ls.confirmed && ls.stopping && !ls.over {
		// The site took the stop and its job is still ending: no answer
		// to end the cancel on. Asked again once due (its retries'
		// schedule, within the stop's window, leftStopWindow); the
		// window past, the stop is over, and the cancel ends saying the
		// job was still ending.
		// cancelDone is cleared only once a try is due: cleared at once,
		// the next step took the stop as not yet sent and sent it again
		// (sendStop for the cancel skips the schedule), one Cancel a tick
		// holding a slot of the site (maxLeftStops).
		due := !ls.inFlight && !c.cancelClock().Before(ls.next)
		if due {
			ls.cancelDone = false
		}
		c.mu.Unlock()
		if due {
			c.sendStop(ctx, k, ls, true)
		}
		c.mu.Lock()
		if ls.confirmed || (ls.cancelDone && (!ls.stopping || ls.over)) {
			c.mu.Unlock()
			return c.stopForCancel(ctx, r)
		}
		c.mu.Unlock()
		return false, leftStopResult{}
	}
	ls.over, ls.next = true, farFuture
	out := leftStopResult{handle: ls.handle, err: ls.err, tries: ls.tries}
	if !ls.first.IsZero() {
		out.since = c.cancelClock().Sub(ls.first)
	}
	if ls.confirmed {
		out.err = nil
	}
	c.mu.Unlock()
	return true, out
}

// leftStop is where the stop of one attempt a run leaves (stopLeft)
// stands.
type leftStop struct {
	// left is the run as its re-plan saw it, leaving the attempt: its
	// site, attempt and handle.
	left Run
	// found is the handle of the attempt's job a try found at its site,
	// left holding none (stopAttempt): the next tries stop it by it
	// (cancelFound).
	found string
	// next is when the stop is asked again: farFuture once over.
	next time.Time
	// inFlight says a try runs now; forCancel, that it is a cancelled
	// run's (stopForCancel).
	inFlight, forCancel bool
	// tries counts the tries that ended unconfirmed; first is when the
	// first of them ended, from which its window (leftStopWindow) is
	// counted.
	tries int
	first time.Time
	// handle and err are the last try's: the handle it used, and why the
	// site did not confirm the stop.
	handle string
	err    error
	// stopping says the last try's answer was that the site took the
	// stop and the job is still ending (backend.ErrStopping): asked
	// again, and, the window past, recorded as still stopping, not given
	// up.
	stopping bool
	// failed says a try in the window ended unconfirmed with no such
	// answer (the site failed it): the window past, the stop is given
	// up, whatever the last try's answer.
	failed bool
	// confirmed says the site confirmed the stop; over, that nothing
	// more is sent (confirmed, given up, or taken by the run's cancel);
	// cancelDone, that a try sent for the run's cancel ended.
	confirmed, over, cancelDone bool
	// waitLogged says the stop was logged waiting for a slot of its site
	// (maxLeftStops); cleared once a try starts.
	waitLogged bool
}

// maxLeftStops bounds the stops of attempts runs leave (stopLeft,
// stopForCancel) in flight at once beside the loop, for one site.
const maxLeftStops = 64

// KindLeftStop is the audit kind of the stop of an attempt a run leaves
// (a re-plan for a lost site or the law): whether its site confirmed it.
const KindLeftStop = "left-stop"

// The outcomes of a left attempt's stop that are kept on the run.
const (
	leftStopped         = "stopped"
	leftStopUnconfirmed = "not-confirmed"
	leftStopGivenUp     = "given-up"
	leftStopFailed      = "failed"
	// The site took the stop, its job still ending (backend.ErrStopping):
	// asked again (stopping), and, its window past with every try so
	// answered, over (still-stopping); a try the site failed makes it
	// given-up.
	leftStopStopping      = "stopping"
	leftStopStillStopping = "still-stopping"
)

// leftStopResult is what a left attempt's stop came to: its outcome,
// after how many tries over how long, the handle used and the last try's
// error.
type leftStopResult struct {
	outcome string
	tries   int
	since   time.Duration
	handle  string
	err     error
}

// recordLeftStop keeps out, the stop of left's attempt, on its run: an
// event of its timeline, which the run's show gives, and a sealed audit
// record (KindLeftStop). The site's own words are the server log's; the
// run's tenant is told their class (stopFault). A run that has ended is
// not written.
func (c *Controller) recordLeftStop(ctx context.Context, left *Run, out leftStopResult) {
	n, site := left.Attempt, left.Site
	msg, why := c.leftStopText(left, out)
	_, err := c.update(ctx, left.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() {
			return store.ErrNoChange
		}
		return addLeftStop(ch, r, site, n, out, why, msg)
	})
	if err != nil && !errors.Is(err, store.ErrNoChange) {
		c.cfg.Logger.Warn("record the stop of an attempt a run leaves", "run", left.ID, "tenant", left.Tenant, "site", site, "attempt", n, "outcome", out.outcome, "err", err)
	}
}

// addLeftStop adds to ch, r's change, the stop of its attempt n at site
// (out): a sealed audit record (KindLeftStop) whose error is why, and an
// event of its timeline (msg).
func addLeftStop(ch *store.Change, r *Run, site string, n int, out leftStopResult, why, msg string) error {
	rec, err := audit.NewRecord(KindLeftStop, r.ID, map[string]any{
		"site": site, "attempt": n, "handle": out.handle, "outcome": out.outcome, "tries": out.tries, "seconds": int64(out.since / time.Second), "error": why,
	})
	if err != nil {
		return err
	}
	rec.Tenant = catalog.TenantOr(r.Tenant)
	ch.Audit = append(ch.Audit, rec)
	ch.Events = append(ch.Events, store.Event{Kind: KindLeftStop, Reason: msg})
	return nil
}

// stoppingClass is the class of err, a site's answer that it took a stop
// of r's attempt at site and the job is still ending (backend.ErrStopping:
// "still stopping"), for the run's tenant. It is no failure of the site:
// logged at Info, where loggedClass logs a site failure.
func (c *Controller) stoppingClass(r *Run, site, what string, err error) string {
	c.cfg.Logger.Info("a site took a stop, and its job is still ending", "run", r.ID, "tenant", r.Tenant, "site", site, "what", what, "err", err)
	return faultClass(err)
}

// leftStopText is what the run's timeline says of out, the stop of left's
// attempt (msg), and the class of its last try's error (why): the site's
// own words are the server log's.
func (c *Controller) leftStopText(left *Run, out leftStopResult) (msg, why string) {
	n, site := left.Attempt, left.Site
	switch {
	case out.outcome == leftStopStopping || out.outcome == leftStopStillStopping:
		// The site's answer by class alone ("still stopping"): it said
		// the job is ending, no fault.
		why = c.stoppingClass(left, site, "stop", out.err)
	case out.err != nil:
		why = c.stopFault(left, site, out.err)
	}
	switch out.outcome {
	case leftStopped:
		msg = fmt.Sprintf("attempt %d at %s, which the run leaves, stopped: its site confirmed the stop", n, site)
		if out.tries > 1 {
			msg += fmt.Sprintf(" at its try %d", out.tries)
		}
	case leftStopUnconfirmed:
		msg = fmt.Sprintf("attempt %d at %s, which the run leaves, was told to stop, but %s; asked again until its site confirms it, for up to %s", n, site, why, c.leftStopWindow())
	case leftStopGivenUp:
		msg = fmt.Sprintf("attempt %d at %s, which the run left, was told to stop %d times over %s, and its site never confirmed it (last: %s); its workload may run on there until its agent's lease ends",
			n, site, out.tries, out.since.Round(time.Second), why)
	case leftStopStopping:
		msg = fmt.Sprintf("attempt %d at %s, which the run leaves, was told to stop: its site took the stop, and the job is still ending (site %s: %s); asked again until its site says it ended, for up to %s", n, site, site, why, c.leftStopWindow())
	case leftStopStillStopping:
		msg = fmt.Sprintf("attempt %d at %s, which the run left, was told to stop %d times over %s: its site took the stop, but the job was still ending when last asked (site %s: %s); it may run on there until it ends or its agent's lease ends",
			n, site, out.tries, out.since.Round(time.Second), site, why)
	case leftStopFailed:
		msg = fmt.Sprintf("attempt %d at %s, which the run leaves, could not be stopped: %s; its workload may run on there until its agent's lease ends", n, site, why)
	}
	return reasonText(msg), why
}
