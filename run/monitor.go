package run

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// lose records that the run's site is lost and that a migration begins.
func (c *Controller) lose(ctx context.Context, r *Run, reason string) (bool, error) {
	return c.loseSeen(ctx, r, reason, backend.Status{})
}

// loseSeen is lose of an attempt whose site last said site of its job:
// when the job started, which the controller may not have seen (an agent
// silent from the start of a job that began while the controller was
// down), counts.
func (c *Controller) loseSeen(ctx context.Context, r *Run, reason string, site backend.Status) (bool, error) {
	// The reason is often the site's own words (a scheduler's answer, a
	// pod's message): bounded as a state's reason is, for it is kept in
	// the run's migration and written to the audit log with its plan.
	reason = reasonText(reason)
	now := c.cfg.Now()
	attempt := r.Attempt
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.State == Migrating {
			return store.ErrNoChange
		}
		r.Excluded = appendUnique(r.Excluded, r.Site)
		if r.Losses == nil {
			r.Losses = map[string]SiteLoss{}
		}
		l := r.Losses[r.Site]
		l.Count++
		l.Until = now.Add(c.lostSiteBackoff(l.Count))
		r.Losses[r.Site] = l
		r.Migration = &Migration{From: r.Site, Reason: reason, LostAt: now}
		ch.Events = append(ch.Events, store.Event{Kind: "site-lost", Reason: reason})
		if err := transition(ch, r, Migrating, lostReason(r.Site, l.Until, reason)); err != nil {
			return err
		}
		siteClockEvent(ch, siteClock(r, attempt, site.Started, site.Ended, now))
		return nil
	})
	if err == nil {
		// The loss's state record is one the kept placements do not
		// follow: its time and count are read at the run's next step.
		c.runWitness.forgetPlace(r.ID)
		c.cfg.Observer.SiteLost(r.Site)
		c.cfg.Logger.Warn("site lost", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "reason", reason)
	}
	return err == nil, err
}

// healHorizon computes and records the horizon of a live run that has
// none, when the controller has a law; it says whether it recorded one.
func (c *Controller) healHorizon(ctx context.Context, r *Run) (bool, error) {
	ln := c.lawNow()
	if ln.Law == nil {
		return false, nil
	}
	st, err := c.lawStatus(r, ln)
	if err != nil {
		c.cfg.Logger.Warn("law horizon", "run", r.ID, "tenant", r.Tenant, "err", err)
		return false, nil // tried again at the next step
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.Law != nil || r.State.Final() || r.State == Migrating || r.State == Held {
			return store.ErrNoChange
		}
		r.Law = st
		if st.LawfulUntil != "" {
			ch.Events = append(ch.Events, lawEvent("lawful-until", lawUntilText(r.Site, st, ln.Rev), st.UntilRule, ln.Rev))
		}
		return nil
	})
	return err == nil, err
}

// exitOf returns the exit code the agent of r's current attempt reported,
// or nil.
func exitOf(r *Run) *int {
	for _, a := range r.Attempts {
		if a.N == r.Attempt && a.Exit != nil {
			return a.Exit
		}
	}
	return nil
}

// stopAttempt stops r's current attempt at its site, best effort, within
// wait: by its handle, or, when none is recorded (the site took the Submit
// but its answer was lost, and the site was lost before a retry got it),
// by finding it (backend.Finder). Such a job ran on at the lost site, or,
// on Kubernetes, kept its accelerators with a pod that could not start.
// It returns why the site did not confirm the stop, or nil: the site took
// the cancel, or does not know the job (gone: nothing of it runs there);
// and the handle it used ("" when it had none).
func (c *Controller) stopAttempt(ctx context.Context, r *Run, wait time.Duration) (string, error) {
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	h := r.Handle
	if h == "" {
		f, ok := be.(backend.Finder)
		if !ok {
			return "", errNoJobToStop
		}
		var found bool
		if h, found, err = f.Find(cctx, r.ID, r.Attempt); err != nil {
			return "", fmt.Errorf("find the attempt's job: %w", err)
		}
		if !found {
			return "", nil
		}
		c.recordFound(ctx, r, h)
	}
	err = be.Cancel(cctx, h)
	if errors.Is(err, backend.ErrNotFound) {
		// Gone, where the site's Status does not know the job either (or
		// says it ended), and, for the row's handle, where it is the job
		// the run's sealed submission names (notFoundGone).
		st, statusErr := be.Status(cctx, h)
		why, serr := c.notFoundGone(ctx, r, h, st, statusErr)
		if serr != nil {
			c.cfg.Logger.Warn("read the sealed submission of a run's job to stop", "run", r.ID, "tenant", r.Tenant, "err", serr)
			return h, &stopError{err, "the job its sealed submission names could not be read"}
		}
		if why != "" {
			return h, &stopError{err, why}
		}
		err = nil
	}
	return h, err
}

// recordFound records h as the job of r's current attempt, which its site
// ran though the run holds no submission of it: the server stopped between
// handing it to the site and recording it, and the run left the site
// before a restart's submit step found it. The timeline then says that the
// attempt ran there, and the attempt's handle lets its scratch (plaintext
// data, checkpoints) be cleaned like any other's; r is updated too, for
// the cleanup that follows in the same step.
func (c *Controller) recordFound(ctx context.Context, r *Run, h string) {
	n, site := r.Attempt, r.Site
	for i := range r.Attempts {
		if r.Attempts[i].N == n && r.Attempts[i].Handle == "" {
			r.Attempts[i].Handle = h
		}
	}
	// The attempt's own entry is what is checked, not the run's current
	// attempt: a re-plan's stop (stopLeft) finds the job beside the loop,
	// for up to its bound, while the run moves on to its next attempt;
	// the job found is still the one that attempt ran at its site, and its
	// cleanup still needs its handle.
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() {
			return store.ErrNoChange
		}
		for i := range r.Attempts {
			if r.Attempts[i].N != n {
				continue
			}
			if a := r.Attempts[i]; (a.Site != "" && a.Site != site) || a.Handle != "" {
				return store.ErrNoChange
			}
			r.Attempts[i].Handle = h
			ch.Events = append(ch.Events, store.Event{Kind: "attempt-found", Reason: fmt.Sprintf("attempt %d submitted to %s as %s, found there: the server stopped before recording the submission; stopped as the run leaves %s", n, site, h, site)})
			return nil
		}
		return store.ErrNoChange
	})
	if err != nil {
		c.cfg.Logger.Warn("record a found attempt", "run", r.ID, "tenant", r.Tenant, "attempt", n, "handle", h, "err", err)
	}
}

// maxLostSiteBackoff bounds how long one loss keeps a site out of a run's
// plans.
const maxLostSiteBackoff = 24 * time.Hour

// lostSiteBackoff is how long a site lost for the n-th time stays out.
func (c *Controller) lostSiteBackoff(n int) time.Duration {
	d := c.cfg.LostSiteBackoff
	for i := 1; i < n && d < maxLostSiteBackoff; i++ {
		d *= 2
	}
	return min(d, maxLostSiteBackoff)
}

// excludedNow is the sites r's plans leave out now: those it lost whose
// backoff has not passed. A site lost before losses were timed (no entry)
// counts as lost long ago.
func (c *Controller) excludedNow(r *Run) []string {
	now := c.cfg.Now()
	var out []string
	for _, s := range r.Excluded {
		if l, ok := r.Losses[s]; ok && now.Before(l.Until) {
			out = append(out, s)
		}
	}
	return out
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	out := append(list, s)
	sort.Strings(out)
	return out
}

func attemptKey(runID string, n int) string { return fmt.Sprintf("%s/%d", runID, n) }

// heard records that an attempt's agent reported now: in the store, where
// the leader sees it whichever server the agent reached, and, on the
// leader, in memory. A server that does not lead keeps nothing in memory:
// it would never read it (a term begins with none, newTerm), and it hears
// every agent that reaches it. It returns the store's error, logged.
func (c *Controller) heard(ctx context.Context, runID, tenant string, attempt int) error {
	if _, leading := c.Leading(); leading {
		c.mu.Lock()
		c.heartbeats[attemptKey(runID, attempt)] = time.Now()
		c.mu.Unlock()
	}
	err := c.cfg.Store.Heard(ctx, runID, attempt)
	if err != nil {
		c.cfg.Logger.Warn("record heartbeat", "run", runID, "tenant", tenant, "attempt", attempt, "err", err)
	}
	return err
}

// silentFor is how long the attempt's agent has not reported, to this
// server or (by the store) to any, counted from when this controller's term
// first looked at the attempt at the earliest, so that neither a restart, a
// new leader nor a new attempt makes an agent look silent. Silence is
// elapsed time, so it is measured on the machine's clock (and the store's),
// not on Config.Now (which says which day the law is asked about). A store
// that cannot be read is an error, not silence: an agent reporting to
// another replica is heard only through the store.
func (c *Controller) silentFor(ctx context.Context, runID string, attempt int) (time.Duration, error) {
	now := time.Now()
	k := attemptKey(runID, attempt)
	c.mu.Lock()
	last, ok := c.heartbeats[k]
	if !ok {
		c.heartbeats[k] = now
	}
	c.mu.Unlock()
	if !ok {
		return 0, nil
	}
	quiet := now.Sub(last)
	d, ok, err := c.cfg.Store.SilentFor(ctx, runID, attempt)
	if err != nil {
		return 0, fmt.Errorf("attempt %d's agent's last report: %w", attempt, err)
	}
	if ok && d < quiet {
		quiet = d
	}
	return quiet, nil
}

// silenceLimit is how long an attempt's agent may be silent while its job
// runs before the site counts as lost: several missed heartbeats and the
// site timeout.
func (c *Controller) silenceLimit() time.Duration {
	return max(c.cfg.SiteTimeout, 5*c.cfg.Heartbeat)
}

// agentPatience is how long an attempt's agent retries this server for its
// manifest before it gives up (agent.EnvPatience): twice the silence limit,
// so that while the site's scheduler runs the job the server counts the
// site lost (and cancels the job) before its agent gives up, and never
// less than the agent's own default; at most agent.MaxPatience, which an
// agent would cut it to anyway. An agent that gives up for want of an
// answer exits agent.ExitLease, which is read as the site's loss too.
func (c *Controller) agentPatience() time.Duration {
	return min(max(agent.DefaultPatience, 2*c.silenceLimit()), agent.MaxPatience)
}

// DefaultAgentLease is the agents' lease unless Config.AgentLease says
// otherwise. It is an assumption an operator may override (serve
// --agent-lease): long enough to ride out a server's restart or upgrade
// without stopping every workload, short enough that a site cut off from
// the server does not run a moved run's workload for long.
const DefaultAgentLease = 10 * time.Minute

// agentLease is the lease agents are given (0: none). It is at least twice
// the silence limit, so an agent stops its workload only after the server
// would have counted it lost.
func (c *Controller) agentLease() time.Duration {
	switch l := c.cfg.AgentLease; {
	case l < 0:
		return 0
	case l == 0:
		return max(DefaultAgentLease, 2*c.silenceLimit())
	default:
		return max(l, 2*c.silenceLimit())
	}
}

// exitLag is how long the scheduler may go on showing a job whose agent
// reported its workload's exit before the site counts as lost:
// the agents' lease (DefaultAgentLease when leases are off), never less
// than twice the silence limit.
func (c *Controller) exitLag() time.Duration {
	if l := c.agentLease(); l > 0 {
		return l
	}
	return max(DefaultAgentLease, 2*c.silenceLimit())
}

// reportedExit returns the exit code the agent of r's current attempt
// reported for its workload, or nil when it has reported none. r may
// predate the report: without an exit in r, the store's latest word is
// read.
func (c *Controller) reportedExit(ctx context.Context, r *Run) (*int, error) {
	if code := exitOf(r); code != nil {
		return code, nil
	}
	// Its attempts alone are asked: the run without its documents, not
	// read again where unchanged (Brief).
	cur, err := c.Brief(ctx, r.Tenant, r.ID)
	if err != nil {
		return nil, err
	}
	if cur.Attempt != r.Attempt {
		return nil, nil
	}
	return exitOf(cur), nil
}

// agentEverHeard says whether r's current attempt's agent has reported to
// this server (any replica) at least once: the store keeps when it last
// did (Heartbeats), and an exit it reported is on the run. A store that
// cannot be read is an error, not silence.
func (c *Controller) agentEverHeard(ctx context.Context, r *Run) (bool, error) {
	if exitOf(r) != nil {
		return true, nil
	}
	_, ok, err := c.cfg.Store.SilentFor(ctx, r.ID, r.Attempt)
	if err != nil {
		return false, fmt.Errorf("attempt %d's agent's last report: %w", r.Attempt, err)
	}
	return ok, nil
}

// monitor polls the backend for the attempt's state and reacts to its end
// or its site's loss. Progress and checkpoints arrive from the attempt's
// agent (agentapi.go); an agent that has been silent past the site timeout
// while its job is running means the site is lost.
func (c *Controller) monitor(ctx context.Context, r *Run) (bool, error) {
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		return c.failJudged(ctx, r, err, c.backendReason(r, err))
	}
	if r.CancelRequested {
		why := "cancelled by the user"
		var site backend.Status
		cerr := c.cancelJob(ctx, be, r.Handle)
		if errors.Is(cerr, backend.ErrStopping) {
			// The site took the cancel and answers: its job is still
			// ending (its agent seals and pushes the last checkpoint).
			// No loss of the site; the run stays cancelling and the
			// next step asks again, for a while (stillStopping).
			return c.stillStopping(ctx, r, cerr)
		}
		c.stoppedEnding(r)
		if err := cerr; err != nil {
			// A site that does not know the job runs nothing of it: the
			// job is gone, the site is not lost for it. Any other answer
			// is no stop: asked again until the site timeout loses the
			// site, and the cancel then ends unconfirmed (cancelMoving).
			if !errors.Is(err, backend.ErrNotFound) || r.Handle == "" {
				return c.unreachableFor(ctx, r, fmt.Errorf("cancel: %w", err))
			}
			// Only where its Status does not know the job either, and
			// for the job its sealed submission names (notFoundGone): a
			// site that says the job runs, or a handle written on the
			// row outside Meridian, is not found while the job runs on.
			st, statusErr := be.Status(ctx, r.Handle)
			note, serr := c.notFoundGone(ctx, r, r.Handle, st, statusErr)
			if serr != nil {
				return false, serr
			}
			if note != "" {
				return c.unreachableFor(ctx, r, fmt.Errorf("cancel: %w", &stopError{err, note}))
			}
			c.reachable(r.ID)
			site = st
			why = fmt.Sprintf("cancelled by the user: site %s no longer knows attempt %d's job %s", r.Site, r.Attempt, r.Handle)
			if statusErr == nil {
				// Its Status knew the job, and said it ended.
				why = fmt.Sprintf("cancelled by the user: site %s said attempt %d's job %s had ended (%s) and did not know it to cancel", r.Site, r.Attempt, r.Handle, st.State)
			}
		} else {
			// When the job ran, as its site tells it now (best effort): it
			// may have started, or ended, since the controller last looked.
			site, _ = be.Status(ctx, r.Handle)
		}
		c.endAttempt(ctx, r)
		now, attempt := c.cfg.Now(), r.Attempt
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.State.Final() {
				return store.ErrNoChange
			}
			if err := transition(ch, r, Cancelled, why); err != nil {
				return err
			}
			siteClockEvent(ch, siteClock(r, attempt, site.Started, site.Ended, now))
			return nil
		})
		return err == nil, err
	}
	st, err := be.Status(ctx, r.Handle)
	if err != nil {
		return c.unreachableFor(ctx, r, fmt.Errorf("status: %w", err))
	}
	c.reachable(r.ID)
	if st.State == backend.Lost {
		return c.lose(ctx, r, st.Reason)
	}
	if r.Law == nil && !st.State.Final() {
		// A run without a horizon (its move could not compute one: the
		// ledger unreadable for a moment) would run past its own
		// licence's end, which no law check's day covers: computed again
		// here until it is known.
		if healed, err := c.healHorizon(ctx, r); healed || err != nil {
			return healed, err
		}
	}
	// A rule already loaded bites on a known day: leave ahead of it.
	if l := r.Law; l != nil && !l.MoveBy.IsZero() && !c.cfg.Now().Before(l.MoveBy) && !st.State.Final() {
		if moved, err := c.moveBeforeRule(ctx, r); moved || err != nil {
			return moved, err
		}
	}
	if st.State == backend.Running {
		// An agent is silent when it missed several heartbeats and the site
		// timeout has passed: one late report is not a lost site.
		quiet, err := c.silentFor(ctx, r.ID, r.Attempt)
		if err != nil {
			return false, err
		}
		if quiet > c.silenceLimit() {
			// An agent that reported its workload's exit stopped reporting
			// because it is done: the scheduler has yet to see its job end
			// (a Slurm epilog, a pod's termination, a slow status), and
			// that is no lost site yet: the scheduler's word ends the
			// attempt. Only the scheduler's: a workload also exits when its
			// site fails it (SIGTERM from a failing node, a preemption it
			// handles by exiting 0), so its exit is no proof of success.
			code, err := c.reportedExit(ctx, r)
			if err != nil {
				return false, err
			}
			if code == nil {
				return c.loseSeen(ctx, r, fmt.Sprintf("no report from attempt %d's agent for %s", r.Attempt, quiet.Round(time.Second)), st)
			}
			// A scheduler that still shows the job one agents' lease on is
			// stuck (a node hung in its epilog): the site is lost, as it
			// was at once before the agent's exit counted.
			if quiet > c.exitLag() {
				return c.loseSeen(ctx, r, fmt.Sprintf("the scheduler still showed attempt %d's job running %s after its agent reported exit code %d",
					r.Attempt, quiet.Round(time.Second), *code), st)
			}
		}
	}
	var to State
	var reason string
	switch st.State {
	case backend.Running:
		if r.State == Queued {
			to, reason = Running, fmt.Sprintf("attempt %d running at %s", r.Attempt, r.Site)
		}
	case backend.Succeeded:
		to, reason = Succeeded, fmt.Sprintf("attempt %d at %s finished", r.Attempt, r.Site)
		// The agent exits with its workload's code, so a scheduler sees
		// a workload that failed as a failed job. One that says such a
		// job succeeded misreports it: the exit the agent reported, the
		// workload's own end, decides.
		code, err := c.reportedExit(ctx, r)
		if err != nil {
			return false, err
		}
		if code != nil && *code != 0 {
			to, reason = Failed, fmt.Sprintf("attempt %d at %s failed: its workload exited with code %d (its site said the job succeeded)", r.Attempt, r.Site, *code)
		}
		if code == nil {
			// Every attempt runs its workload under an agent (there is no
			// mode without one: Config.AgentCommand is always set), and
			// the agent starts it only with the manifest this server
			// gives it; each of its requests is recorded (heard). A site
			// that says the job succeeded when its agent never reached
			// this server at all (a hostile or broken scheduler, a job
			// that never started) says what cannot be: its workload
			// never ran. The site is lost for the attempt and the run
			// moves on, as for any site that misreports its job, rather
			// than end Succeeded. An agent heard from but whose exit
			// report was lost is still taken at the site's word.
			heard, err := c.agentEverHeard(ctx, r)
			if err != nil {
				return false, err
			}
			if !heard {
				return c.loseSeen(ctx, r, fmt.Sprintf("its site said attempt %d's job succeeded, but the attempt's agent never reported to this server: its workload cannot have run", r.Attempt), st)
			}
		}
	case backend.Failed:
		if st.ExitCode == agent.ExitLease || st.ExitCode == agent.ExitLost {
			// The agent stopped the workload, or gave up before starting
			// it, because it could not reach this server: the site is cut
			// off, the run is not at fault.
			// Or processes the workload started still ran when the agent
			// gave up on them (stuck in the kernel): the attempt has not
			// ended, and they hold the site's resources. A workload that
			// itself exits with either code is told apart by the exit its
			// agent reported (read again: it may have come in since this
			// step read the run).
			code, err := c.reportedExit(ctx, r)
			if err != nil {
				return false, err
			}
			if code == nil || *code != st.ExitCode {
				why := "stopped: it had no answer from the server for its lease (or, before its workload started, for its manifest)"
				if st.ExitCode == agent.ExitLost {
					why = "could not end every process its workload started: the attempt did not end"
				}
				return c.lose(ctx, r, fmt.Sprintf("attempt %d's agent %s", r.Attempt, why))
			}
		}
		to, reason = Failed, fmt.Sprintf("attempt %d at %s failed: %s", r.Attempt, r.Site, st.Reason)
	case backend.Cancelled:
		to, reason = Cancelled, fmt.Sprintf("attempt %d at %s cancelled by the site: %s", r.Attempt, r.Site, st.Reason)
	}
	if to == "" {
		return false, nil
	}
	if to.Final() {
		// The attempt has ended: its scratch goes before the end is
		// recorded, so a crash in between repeats the removal.
		c.endAttempt(ctx, r)
	}
	now := c.cfg.Now()
	attempt := r.Attempt
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Queued && r.State != Running && r.State != Checkpointed {
			return store.ErrNoChange
		}
		if to == Running && r.State != Queued {
			return store.ErrNoChange
		}
		if err := transition(ch, r, to, reason); err != nil {
			return err
		}
		// When the site says the job started and ended: the controller
		// may have missed both (a short job between two looks, or one
		// that ran while the controller was down).
		siteClockEvent(ch, siteClock(r, attempt, st.Started, st.Ended, now))
		recovered(ch, r, now)
		return nil
	})
	return err == nil, err
}

// recovered closes a migration once the new attempt runs.
func recovered(ch *store.Change, r *Run, now time.Time) {
	if r.Migration != nil && (r.State == Running || r.State == Checkpointed || r.State == Succeeded) {
		r.RecoveredIn = catalog.Duration(now.Sub(r.Migration.LostAt))
		left := r.Migration.From + " was lost"
		if r.Migration.Rule != "" {
			left = fmt.Sprintf("the law (rule %s, revision %d) moved it off %s", r.Migration.Rule, r.Migration.Revision, r.Migration.From)
		}
		ch.Events = append(ch.Events, store.Event{Kind: "recovered", Reason: fmt.Sprintf("running at %s %s after %s",
			r.Site, now.Sub(r.Migration.LostAt).Round(time.Millisecond), left)})
		r.Migration = nil
	}
}

// moveBeforeRule starts the move of a run whose placement a loaded rule
// makes unlawful from a known day, once the margin before it is reached.
func (c *Controller) moveBeforeRule(ctx context.Context, r *Run) (bool, error) {
	until, err := catalog.ParseDate(r.Law.LawfulUntil)
	if err != nil {
		return false, err
	}
	w, job, err := c.worldJob(r)
	if err != nil {
		return false, err
	}
	ln := c.lawNow()
	dec, err := placementLaw(w, job, w.Site(r.Site), r.Placement.Pool, until, ln.Law, ln.Exports)
	if err != nil {
		return false, err
	}
	if dec.Allowed {
		// The rule that ended the horizon is gone: the next law check
		// recomputes it; do not move.
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.Law == nil || r.Law.MoveBy.IsZero() {
				return store.ErrNoChange
			}
			r.Law.MoveBy, r.Law.LawfulUntil, r.Law.UntilRule = time.Time{}, "", ""
			return nil
		})
		return false, err
	}
	return c.leaveForLaw(ctx, r, dec, ln.Rev, until)
}

// cancelMoving ends a cancelled run that has no attempt under way: held,
// or moving between sites. The attempt a move leaves (draining, or at a
// lost site) is stopped first, best effort: a lost site may not answer, and
// its agent's lease stops it there. A stop its site does not confirm is
// said not carried (cancelNotCarried), in the run's reason, its timeline
// and the audit log: the workload may run on there until its agent's lease
// ends, and nobody was told. Under the loop the stop runs beside it
// (stopForCancel), for up to its bound (cancelMovingWait): the step
// waits for it without holding a Tick worker, so that one site that does
// not answer does not hold every other run's steps. A held run whose
// re-plan held it, the stop of the attempt it left not confirmed by its
// site (leftStopUnconfirmed), is stopped the same way: its cancel ends
// the stop's retries. A site that took the stop and says its job is still
// ending (backend.ErrStopping: it traps SIGTERM and pushes its last
// checkpoint) carried the cancel: it is asked again until it says the job
// ended, on its retries' schedule, for the stop's window (leftStopWindow);
// past it, the run ends saying the job was still ending, not that the
// cancel was not carried, and the stop's end is kept (KindLeftStop,
// still-stopping): the job may run on there.
func (c *Controller) cancelMoving(ctx context.Context, r *Run) (bool, error) {
	var unconfirmed *notCarried
	var stillEnding, stillMsg, stillWhy string
	var still leftStopResult
	site, attempt := r.Site, r.Attempt
	if r.State == Migrating || (r.State == Held && c.leftStopUnconfirmed(r)) {
		in, out := c.stopForCancel(ctx, r)
		if !in {
			return false, nil // the stop is out, or due again: its end (or the next tick) wakes the loop
		}
		h, err := out.handle, out.err
		if errors.Is(err, backend.ErrStopping) {
			// The site took the stop, the job still ending: kept as the
			// stop's end (KindLeftStop, still-stopping), no failure.
			job := ""
			if h != "" {
				job = " (job " + h + ")"
			}
			still = out
			still.outcome, still.tries = leftStopStillStopping, max(out.tries, 1)
			stillMsg, stillWhy = c.leftStopText(r, still)
			stillEnding = fmt.Sprintf("; its site %s took the stop of attempt %d%s, but the job was still ending when last asked, past %s (site %s: %s); it may run on there until it ends",
				r.Site, r.Attempt, job, c.leftStopWindow(), r.Site, stillWhy)
		} else if err != nil {
			// One try: its bound; more: the time since the first ended.
			tries, since := max(out.tries, 1), out.since.Round(time.Second)
			if tries == 1 {
				since = cancelMovingWait
			}
			unconfirmed = &notCarried{site: r.Site, attempt: r.Attempt, handle: h, tries: tries, since: since,
				why: c.stopFault(r, r.Site, err)}
		}
		if r.State == Migrating {
			c.endAttempt(ctx, r)
		}
	}
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Held && r.State != Migrating {
			return store.ErrNoChange
		}
		why := "cancelled by the user while held"
		if r.State == Migrating {
			why = "cancelled by the user while moving from " + r.Site
		}
		r.Hold, r.Migration = nil, nil
		if stillEnding != "" {
			why = reasonText(why + stillEnding)
			if err := addLeftStop(ch, r, site, attempt, still, stillWhy, stillMsg); err != nil {
				return err
			}
		}
		if unconfirmed != nil {
			why = reasonText(why + "; cancel " + unconfirmed.String())
			if err := cancelNotCarried(ch, r, *unconfirmed, why); err != nil {
				return err
			}
		}
		return transition(ch, r, Cancelled, why)
	})
	return err == nil, err
}

// sealedHandle says whether r's row names the job of its current attempt
// that its sealed submission record names (the same site, attempt and
// handle; for a moving run, the attempt it leaves), or none is sealed (a run submitted before submissions were
// sealed, or a log without its key): a site's "not found" for it means
// the job is gone.
func (c *Controller) sealedHandle(ctx context.Context, r *Run) (bool, error) {
	if c.runWitness == nil || c.runWitness.chain == nil {
		return true, nil
	}
	job, err := c.runWitness.sealedJobOf(ctx, c.cfg.Store, r)
	if err != nil {
		return false, err
	}
	// A moving run's newest sealed placement is where it goes: the job it
	// leaves is its newest sealed submission (left).
	cur := submission{attempt: job.attempt, site: job.site, handle: job.handle}
	if cur.handle == "" && job.left.handle == "" {
		return true, nil
	}
	row := submission{attempt: r.Attempt, site: r.Site, handle: r.Handle}
	return (cur.handle != "" && cur == row) || (job.left.handle != "" && job.left == row), nil
}

// notFoundGone says why a Cancel of h, r's attempt's job, that its site
// answered with not found does not show the job gone, or "" where it does
// (the drain is over, the cancel confirmed). st and statusErr are the
// site's Status of h in the same step. Not found is taken only where
// that Status did not know the job either (statusErr not found) or said
// it ended: a site that said the job was pending or running, or had lost
// track of it, or whose Status failed, gave no word that it ended, and
// its Cancel's not found is a flaky or lying answer. For the row's handle
// it is taken only where that is the job the run's sealed submission
// names (a handle written on the row outside Meridian is not found while
// the job runs on); a handle the site found for the attempt just now
// (backend.Finder, the row having none) is its own.
func (c *Controller) notFoundGone(ctx context.Context, r *Run, h string, st backend.Status, statusErr error) (string, error) {
	if why := statusNotGone(st, statusErr); why != "" {
		return why, nil
	}
	if h != r.Handle {
		return "", nil
	}
	sealed, err := c.sealedHandle(ctx, r)
	if err != nil {
		return "", err
	}
	if !sealed {
		return "a handle its row names, which is not the one its sealed submission names", nil
	}
	return "", nil
}

// statusNotGone says why st (statusErr), a site's Status of a job whose
// Cancel it answered with not found, does not show the job gone, or ""
// where it does: the Status does not know the job either, or says it
// ended.
func statusNotGone(st backend.Status, statusErr error) string {
	switch {
	case statusErr == nil && st.State == backend.Lost:
		return "its site's status said it lost track of the job, not that the job ended"
	case statusErr == nil && !st.State.Final():
		return "its site's status said the job was live"
	case statusErr != nil && !errors.Is(statusErr, backend.ErrNotFound):
		return "its site's status did not say the job is gone"
	}
	return ""
}

// cancelMovingWait bounds the last try to stop a cancelled moving run's
// attempt at the site it leaves. It is the bound a drain gives the same
// Cancel (drainCancelWait), above a local site's worst case (its grace,
// then its tree wait twice: 23 s at its defaults): cut at 10 s, a Cancel
// that had sent SIGKILL and was waiting for what the job started was
// said not carried, and nothing asks a cancelled run's site again. No
// backend tells its own bound.
const cancelMovingWait = drainCancelWait
