package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// migrate re-plans as of today without the lost sites, then moves the
// latest checkpoint from the old site's store to the new site's store (law
// permitting) and records the next attempt. Each half is its own durable
// step, so a crash between them redoes only the unfinished half.
func (c *Controller) migrate(ctx context.Context, r *Run) (bool, error) {
	if r.Migration == nil {
		r.Migration = &Migration{From: r.Site, Reason: "unknown", LostAt: c.cfg.Now()}
	}
	// The lost attempt's scratch goes first (best effort; the site may be
	// unreachable). Repeated on every step of the migration.
	if r.Migration.Drain {
		done, unconfirmed, err := c.draining(ctx, r)
		if err != nil || !done {
			return false, err
		}
		ended := fmt.Sprintf("attempt %d at %s stopped", r.Attempt, r.Site)
		if unconfirmed != "" {
			ended = fmt.Sprintf("attempt %d at %s told to stop, but %s", r.Attempt, r.Site, unconfirmed)
		}
		_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.State != Migrating || r.Migration == nil || !r.Migration.Drain {
				return store.ErrNoChange
			}
			r.Migration.Drain = false
			ch.Events = append(ch.Events, store.Event{Kind: "drained", Reason: fmt.Sprintf("%s (last checkpoint: %s)", ended, ckText(r.Checkpoint))})
			return nil
		})
		if _, ok := capacityErr(err); ok {
			// The target chosen before the drain has no room now: drained
			// without it, the run is planned again.
			_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
				if r.State != Migrating || r.Migration == nil || !r.Migration.Drain {
					return store.ErrNoChange
				}
				r.Migration.Drain = false
				r.Migration.setTarget(nil)
				ch.Events = append(ch.Events, store.Event{Kind: "drained", Reason: fmt.Sprintf("%s (last checkpoint: %s); the chosen target has no room now, so the run is planned again", ended, ckText(r.Checkpoint))})
				return nil
			})
		}
		return err == nil, err
	}
	if r.Migration.Target != nil && c.cfg.Now().Before(r.Migration.MoveNext) {
		// The checkpoint's copy failed on a store's passing fault: it
		// waits for its next try (moveFailed).
		return false, nil
	}
	if r.Migration.Target != nil && r.Migration.Unreserved {
		// The target's pool was given up for the wait: taken again first.
		if took, err := c.reacquire(ctx, r); err != nil || !took {
			return err == nil, err
		}
	}
	c.endAttempt(ctx, r)
	if r.Migration.Target == nil && r.Migration.PreemptedBy != "" {
		return c.waitAfterPreemption(ctx, r)
	}
	if r.Migration.Target == nil {
		return c.replan(ctx, r)
	}
	if !c.leftStopOwed(ctx, r) {
		// The re-plan's stop ran under another leader, or before a
		// restart: it is sent again here, and waits a tick for a slot of
		// its site (maxLeftStops).
		return false, nil
	}
	if c.leftStopInFlight(r) {
		// The re-plan's stop of the attempt the run leaves is still out
		// (stopLeft), for at most its bound: the next attempt does not
		// start beside a job that stop may yet end, nor before a job it
		// finds is on record. The step waits; the stop's end wakes it.
		return false, nil
	}
	target := *r.Migration.Target
	if err := c.stillLeading(ctx); err != nil {
		return false, err
	}
	moved, src, why, err := c.moveCheckpoint(ctx, r, target)
	if retry := (*moveRetryError)(nil); errors.As(err, &retry) {
		// A store failed for a while (a timeout, a 5xx answer): the
		// checkpoint is kept and its copy tried again later.
		return c.moveFailed(ctx, r, target, retry.err)
	}
	if errors.Is(err, errTargetChanged) {
		// A law check gave the target up meanwhile: the next step plans
		// the move again.
		c.cfg.Logger.Info("checkpoint not copied: the run's target changed", "run", r.ID, "tenant", r.Tenant, "target", target.Site)
		return false, nil
	}
	if err != nil {
		// Not judged for want of a read: the step is tried again, and
		// the checkpoint is kept.
		return false, err
	}
	if moved == nil && r.Migration.Done > 0 {
		// The target was chosen for the work left after the checkpoint,
		// which cannot go there: the whole job is planned again.
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil {
				return store.ErrNoChange
			}
			r.Migration.Done, r.Migration.Restart = 0, true
			r.Migration.setTarget(nil)
			ch.Events = append(ch.Events, store.Event{Kind: "replanned", Reason: fmt.Sprintf("%s; %s was chosen for the work left after the checkpoint, so the whole job is planned again", why, target.Site)})
			return nil
		})
		return err == nil, err
	}
	// fitted is the target as planned when the fallback below judged it
	// again and took another count of its pool.
	var fitted *planner.Placement
	if moved != nil && r.Migration.Done > stepShare(r, src.Step) {
		// An older checkpoint than the one the target was chosen for is
		// what moves: more work is left than the plan counted, and the
		// target is judged again for it (its deadline and budget).
		fit, left, err := c.fitsAfter(ctx, r, target, src.Step)
		var se *spentError
		if errors.As(err, &se) {
			return c.failJudged(ctx, r, err, fmt.Sprintf("not planned again: %s (the checkpoint the run could resume from: %s)", se.msg, ckText(src)))
		}
		if err != nil {
			// Not judged: the step is tried again, the checkpoint kept.
			return false, err
		}
		if fit == nil {
			return c.replanAfterFallback(ctx, r, target, moved, src, why, left)
		}
		if fit.Count != target.Count {
			// Another count of the same pool meets the work left: the
			// run goes on there with it, its room taken or given back
			// in the write that moves it (a pool that no longer has it
			// refuses the write, and the move is planned again).
			why = fmt.Sprintf("%s; %s pool %d, judged again for the work left after step %d (%s), gives the run %d %s rather than %d",
				why, target.Site, target.Pool, src.Step, left, fit.Count, fit.Accelerator, target.Count)
			planned := target
			fitted = &planned
			target = *fit
		}
	}
	// The days the checkpoint crossed on, as the ledger records them: a
	// copy that ran past midnight, or was finished by a later try, sent
	// its objects on more than one, each judged for its own.
	var days []string
	if moved != nil && src.Site != target.Site {
		led, err := c.checkpointLedger(ctx, r, moved.Name, target.Site, false)
		if err != nil {
			return false, err // not read: the step is tried again, the copy kept
		}
		days = led.days
		if len(days) == 0 {
			days = []string{c.today().String()}
		}
	}
	var next *LawStatus
	if w, job, err := c.worldJob(r); err == nil {
		ln := c.lawNow()
		if d, rule, err := horizon(w, job, w.Site(target.Site), target.Pool, c.today(), ln); err == nil {
			next = &LawStatus{Revision: ln.Rev, CheckedOn: c.today().String()}
			if !d.IsZero() {
				next.LawfulUntil, next.UntilRule, next.MoveBy = d.String(), rule, d.Time.Add(-c.cfg.MoveMargin)
			}
		}
	}
	wrote := false
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		// A law check (or a replan) may have given this target up while
		// the checkpoint was copied: the copy is then not the run's, and
		// the withdrawal the law check deferred removes it.
		if !movingTo(r, target) {
			wrote = false
			return store.ErrNoChange
		}
		wrote = true
		from := r.Site
		left := []string{from}
		if r.Checkpoint != nil {
			left = append(left, r.Checkpoint.Site)
		}
		if src != nil {
			left = append(left, src.Site)
		}
		if moved != nil && why != "" {
			// An older checkpoint than the latest moves: the timeline says
			// which were passed over, and why.
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-fallback", Reason: fmt.Sprintf("%s; the run resumes from its checkpoint at step %d at %s instead",
				why, src.Step, src.Site)})
		}
		switch {
		case moved != nil && src.Site == target.Site:
			// Already in the target's store: nothing crosses a border, so
			// the audit log records no move (and no law was asked of one).
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-moved", Reason: fmt.Sprintf("checkpoint at step %d is already in %s's store (sha256 %s): nothing moved",
				moved.Step, target.Site, short(moved.SHA256))})
			r.setCheckpoint(moved)
		case moved != nil:
			rec, err := audit.NewRecord(audit.KindCheckpoint, r.ID, map[string]any{
				"step": moved.Step, "bytes": moved.Bytes, "sha256": moved.SHA256, "name": moved.Name,
				"fromSite": src.Site, "toSite": target.Site, "toCountry": target.Country,
				"lawfulBy":  fmt.Sprintf("the transfer law allows the run's datasets from %s to %s as of %s; destination is rank 1 of the plan as of %s", src.Site, target.Country, strings.Join(days, " and "), r.Migration.AsOf),
				"days":      days,
				"dataMoves": target.DataMoves,
			})
			if err != nil {
				return err
			}
			ch.Audit = append(ch.Audit, rec)
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-moved", Reason: fmt.Sprintf("checkpoint at step %d copied from %s's store to %s's (%s), sealed, sha256 %s",
				moved.Step, src.Site, target.Site, target.Country, short(moved.SHA256))})
			// The copy it was made from stays in its store: one more the
			// run may fall back to.
			r.setCheckpoint(src)
			r.setCheckpoint(moved)
		default:
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-moved", Reason: why})
			r.Checkpoint, r.Older = nil, nil
		}
		// The sites left may keep the run's checkpoints, which the law
		// check does not see: judged and cleared at the run's next step,
		// once this is written and the checkpoint the run resumes from is
		// no longer needed there (sweepCheckpoints).
		for _, s := range left {
			if s != "" && s != target.Site && !slices.ContainsFunc(r.Swept, func(sw Sweep) bool { return sw.Site == s }) {
				r.Swept = append(r.Swept, Sweep{Site: s, AsOf: r.Migration.Until})
			}
		}
		r.Site = target.Site
		r.Placement = target
		r.Law = next
		r.Attempt++
		// The placement the next attempt takes, sealed: the count may be
		// another than the plan's (a fallback judged again, above), and
		// the attempt's row is held to this (confirmPlace).
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]any{
			"decision": "move", "placement": target, "placesAttempt": r.Attempt, "from": from, "why": why})
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		r.Handle = ""
		r.Attempts = append(r.Attempts, Attempt{N: r.Attempt, Site: target.Site, Nonce: newNonce(), Count: target.Count, PricePerHour: target.PricePerHour, OwnCheckpointNames: true})
		// The new attempt's staging starts afresh.
		r.StageTries, r.StageNext, r.StageUnreserved = 0, time.Time{}, false
		r.Migration.setTarget(nil)
		return transition(ch, r, Staging, fmt.Sprintf("preparing attempt %d at %s after leaving %s", r.Attempt, target.Site, from))
	})
	if _, full := capacityErr(err); full && fitted != nil {
		// The count the work left calls for is no longer there.
		return c.replanAfterFallback(ctx, r, *fitted, moved, src, fmt.Sprintf("%s; %v", why, err), "the work left")
	}
	if err == nil && !wrote {
		c.cfg.Logger.Info("checkpoint copied, but the run's target changed meanwhile: the move is planned again", "run", r.ID, "tenant", r.Tenant, "target", target.Site)
		return false, nil
	}
	if err == nil {
		c.cfg.Observer.Migrated(r.Site, target.Site)
		c.cfg.Logger.Info("migrated", "run", r.ID, "tenant", r.Tenant, "from", r.Site, "to", target.Site)
		// The left sites are swept at the run's next step, not here: this
		// may be a long step, whose context the loop cancels once it sees
		// the run has moved on (longStepRunning), and a removal cut short
		// by that would leave objects deleted with no record of it.
	}
	return err == nil, err
}

// replanAfterFallback plans run r's move again when target, chosen for
// the work left after its latest checkpoint, does not meet the work left
// after src, the older one that moved (moved, its copy at target): the
// copy stays the run's, among its older checkpoints, and the re-plan
// plans the work left after src's step.
func (c *Controller) replanAfterFallback(ctx context.Context, r *Run, target planner.Placement, moved, src *Checkpoint, why, left string) (bool, error) {
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if !movingTo(r, target) {
			return store.ErrNoChange
		}
		// The latest stays its latest: another target may take it.
		latest := r.Checkpoint
		r.setCheckpoint(moved)
		r.setCheckpoint(latest)
		r.Migration.ResumeStep, r.Migration.Done = src.Step, 0
		r.Migration.setTarget(nil)
		ch.Events = append(ch.Events, store.Event{Kind: "replanned", Reason: fmt.Sprintf("%s; the run could resume only from its checkpoint at step %d, and %s, chosen for the work left after step %d, no longer meets the job's deadline or budget for %s: planned again for that work",
			why, src.Step, target.Site, latest.Step, left)})
		return nil
	})
	return err == nil, err
}

func ckText(ck *Checkpoint) string {
	if ck == nil {
		return "none"
	}
	return fmt.Sprintf("step %d at %s", ck.Step, ck.Site)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// replan stops the old attempt (in case its site comes back) and records
// the best placement as of today, without the excluded sites.
func (c *Controller) replan(ctx context.Context, r *Run) (bool, error) {
	// Stop the old attempt in case the site comes back; best effort, and
	// only after the loss is on record, so that a crash here cannot turn the
	// loss into a cancellation (stopLeft). Under the loop it runs beside
	// the step, once per attempt: a re-plan tried again (the law not
	// loaded, a store's passing failure) does not send the Cancel again.
	if !c.stopLeft(ctx, r) {
		return false, nil // too many stops in flight: the re-plan waits a tick
	}
	w, job, left, err := c.jobLeft(r)
	if err != nil {
		return c.failJudged(ctx, r, err, leftErr(r, err))
	}
	if err := c.lawBehind(); err != nil {
		return false, err
	}
	asOf := c.today()
	// The revision the moving run records is the one its plan was judged
	// under, as a submitted run's is.
	plan, u, ln, err := c.planUnderOneRev(ctx, r.Tenant, w, job, asOf, c.excludedNow(r))
	if err != nil {
		return c.failJudged(ctx, r, err, fmt.Sprintf("re-plan after leaving %s: %v", r.Migration.From, err))
	}
	placements := plan.Placements
	if until, err := catalog.ParseDate(r.Migration.Until); err == nil && !until.IsZero() {
		// Moving ahead of a rule's date: the new place must be lawful then too.
		placements = nil
		for _, p := range plan.Placements {
			dec, err := placementLaw(w, job, w.Site(p.Site), p.Pool, until, ln.Law, ln.Exports)
			if notJudged(err) {
				return false, err // not judged: the re-plan is tried again
			}
			if err == nil && dec.Allowed {
				placements = append(placements, p)
			}
		}
	}
	if len(placements) == 0 {
		reason, code, rule := holdReason(plan, asOf, ln.Rev)
		if len(plan.Placements) > 0 {
			reason, code, rule = fmt.Sprintf("no placement stays lawful from %s (rules revision %d)", r.Migration.Until, ln.Rev), policy.CodeDenied, r.Migration.Rule
		} else if wants, quota := c.wantsOf(u, w, r.Tenant, plan); len(wants) > 0 {
			wait := WaitCapacity
			if quota != "" {
				wait = WaitQuota
			}
			return c.holdWait(ctx, r, fmt.Sprintf("left %s; %s", r.Migration.From, roomReason(asOf, wait, quota, wants, reason)), code, rule, ln.Rev, wait, wants)
		}
		return c.hold(ctx, r, fmt.Sprintf("left %s; %s", r.Migration.From, reason), code, rule, ln.Rev)
	}
	pl, rank, skipped, ok := bestRunnable(placements)
	if !ok {
		return c.hold(ctx, r, fmt.Sprintf("left %s; none of the %d lawful placements as of %s is at a site with a configured backend", r.Migration.From, len(placements), asOf), policy.CodeNotNow, "", ln.Rev)
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Migrating || (r.Migration != nil && r.Migration.Target != nil) {
			return store.ErrNoChange
		}
		if r.Migration == nil {
			r.Migration = &Migration{From: r.Site, LostAt: c.cfg.Now()}
		}
		r.Migration.setTarget(&pl)
		r.Migration.AsOf = asOf.String()
		r.Migration.Done = doneShare(r)
		why := fmt.Sprintf("rank %d of %d as of %s (rules revision %d), excluding %v", rank, len(placements), asOf, ln.Rev, c.excludedNow(r))
		if len(skipped) > 0 {
			why += "; " + skippedLine(skipped)
		}
		why = leftNote(why, left)
		ch.Events = append(ch.Events, store.Event{Kind: "replanned", Reason: fmt.Sprintf("moving to %s (%s): %s", pl.Site, pl.Country, why)})
		return addPlan(ch, r.ID, "left "+r.Migration.From+": "+r.Migration.Reason, c.excludedNow(r), plan, pl, why, "")
	})
	if ce, ok := capacityErr(err); ok {
		// Another run took the room between the plan and now: wait for it.
		wants, _ := c.refusedWants(u, w, r.Tenant, plan, placements)
		return c.holdWait(ctx, r, fmt.Sprintf("left %s; waiting for %s as of %s: %s", r.Migration.From, waitOf(ce), asOf, ce.Error()), policy.CodeNotNow, "", ln.Rev, waitOf(ce), wants)
	}
	// A plan over what its record may hold (addPlan's planField) cannot
	// be recorded: the run waits held with the reason, tried again after
	// the hold's backoff, where the error failed every pass at once.
	if pe := (*planTooLargeError)(nil); errors.As(err, &pe) {
		return c.hold(ctx, r, fmt.Sprintf("left %s; not moved as of %s: %s", r.Migration.From, asOf, pe.hold), policy.CodeNotNow, "", ln.Rev)
	}
	return err == nil, err
}

// farFuture is a time no clock reaches.
var farFuture = time.Unix(1<<62, 0)

// maxMoveTries is how many tries of a checkpoint's copy a store's passing
// failure may stop before the run waits held (moveFailed). With the
// default hold retry (5 s, doubling to 10 min) they span about half an
// hour.
const maxMoveTries = 10

// moveHoldMax bounds the wait between the tries of a run held because its
// checkpoint could not be copied.
const moveHoldMax = time.Hour

// storeHoldWait is how long a run waits held after tries copies (a
// checkpoint's or a staging's) a store's passing failure stopped: the
// held runs' wait doubled once a try, at most moveHoldMax.
func (c *Controller) storeHoldWait(tries int) time.Duration {
	wait := c.cfg.HoldRetry
	for i := 0; i < tries && wait < moveHoldMax; i++ {
		wait *= 2
	}
	return min(wait, moveHoldMax)
}

// moveRetryError is a checkpoint's copy that a store's passing failure
// stopped (dataset.Transient, or the step's deadline): the checkpoint is
// kept and the copy tried again, rather than the run started over.
type moveRetryError struct{ err error }

func (e *moveRetryError) Error() string { return e.err.Error() }
func (e *moveRetryError) Unwrap() error { return e.err }

// copyFailed sorts an error of the checkpoint's copy: a store's passing
// failure, or the server's own ledger's (transfer.Transient: the user's
// checkpoint is not given up because the server could not write its own
// records) (moveRetryError), this step ended from outside (shutdown, the
// lease lost: returned as it is, and nothing is counted), or nil when it
// is a refusal that no later try would get past.
func copyFailed(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	if transfer.Transient(err) || ctx.Err() != nil {
		return &moveRetryError{err}
	}
	return nil
}

// copyFault is why checkpoint ck could not be copied to site to, for
// the run's tenant: the law's refusal as it is (the rules and countries
// are the tenant's to know), any other failure (a store's, whose text
// names the server's paths) by its class (siteFault).
func (c *Controller) copyFault(r *Run, ck *Checkpoint, to string, err error) string {
	if d := (*transfer.DeniedError)(nil); errors.As(err, &d) {
		return fmt.Sprintf("checkpoint at step %d at %s could not be moved (%v)", ck.Step, ck.Site, d)
	}
	return c.siteFault(r, to, fmt.Sprintf("checkpoint at step %d at %s could not be copied to the site's store", ck.Step, ck.Site), err)
}

// moveFailed records a try of the checkpoint's copy to target that a
// store's passing failure stopped. The checkpoint is kept: starting over
// would throw away, and pay again for, every hour it holds. The copy is
// tried again with the held runs' backoff (Config.HoldRetry, doubling to
// 10 min); after maxMoveTries the run waits held, still with its
// checkpoint, and each release (an hour apart at most) tries the copy
// again, its tries counted afresh, to the target its plan then picks. The run's timeline says so at
// each try. A user who would rather start over cancels it and submits the
// job again; its deadline, as for any held run, ends the wait.
func (c *Controller) moveFailed(ctx context.Context, r *Run, target planner.Placement, cause error) (bool, error) {
	if ctx.Err() != nil {
		// The step's own deadline is what ran out: the failure is still
		// recorded.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	now := c.cfg.Now()
	tries := r.Migration.MoveTries + 1
	what := c.siteFault(r, target.Site, fmt.Sprintf("checkpoint at step %d could not be copied from %s's store to %s's", r.Checkpoint.Step, r.Checkpoint.Site, target.Site), cause)
	c.cfg.Logger.Warn("checkpoint move failed", "run", r.ID, "tenant", r.Tenant, "to", target.Site, "try", tries, "err", cause)
	if tries < maxMoveTries {
		wait := c.holdBackoff(tries)
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			// Not charged to a target a law check or a replan chose
			// while this copy was tried.
			if !movingTo(r, target) || r.Migration.MoveTries != tries-1 {
				return store.ErrNoChange
			}
			r.Migration.MoveTries, r.Migration.MoveNext = tries, now.Add(wait)
			r.Migration.Unreserved = wait > reserveWait
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-move-failed", Reason: fmt.Sprintf("%s; try %d of %d: the checkpoint is kept and the copy tried again in %s",
				what, tries, maxMoveTries, wait)})
			return nil
		})
		return err == nil, err
	}
	wait := c.storeHoldWait(tries)
	reason := fmt.Sprintf("%s; %d tries failed: the run waits held with its checkpoint rather than start again from the beginning, and tries again in %s", what, tries, wait)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if !movingTo(r, target) || r.Migration.MoveTries != tries-1 {
			return store.ErrNoChange
		}
		r.Hold = &Hold{Reason: reason, Code: policy.CodeNotNow, Since: now, NextTry: now.Add(wait), Tries: 1,
			Restart: r.Migration.Restart, MoveTries: tries}
		r.Hold.keepMove(r.Migration)
		r.Migration = nil
		ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-move-failed", Reason: reason})
		return transition(ch, r, Held, reason)
	})
	return err == nil, err
}

// moveCheckpoint copies the run's latest sealed checkpoint from its site's
// store to the target site's store, store to store, through the ledger. A
// checkpoint carries what the run's datasets carry: it moves only where the
// transfer law lets each of them go from the site it is at. When the
// latest cannot move (the law refuses it, its digest differs, it is gone
// from its store), the older checkpoints the run keeps (Data.Older) are
// tried in turn, newest first: the first that moves intact is the one the
// run resumes from, and why each newer one was passed over is said. It
// returns the moved checkpoint, the one it was copied from, and why any
// were passed over (all: why the run starts over); or an error when a
// store could not be read to judge the move (storeReadError), or a store
// failed for a while (moveRetryError): the caller tries again later
// rather than give the checkpoint up.
func (c *Controller) moveCheckpoint(ctx context.Context, r *Run, target planner.Placement) (*Checkpoint, *Checkpoint, string, error) {
	ck := r.Checkpoint
	if ck == nil || ck.Name == "" {
		return nil, nil, "no checkpoint yet; the run starts from the beginning", nil
	}
	var passed []string
	for _, cand := range checkpointCandidates(r) {
		moved, why, err := c.moveOne(ctx, r, cand, target)
		if err != nil {
			return nil, nil, "", err
		}
		if moved != nil {
			return moved, cand, strings.Join(passed, "; "), nil
		}
		passed = append(passed, why)
	}
	return nil, nil, strings.Join(passed, "; ") + "; the run starts from the beginning", nil
}

// fitsAfter judges target again for the work run r has left after its
// checkpoint at step (an older one than its plan counted): the placement
// at target's site and pool that a plan of that work, its budget and
// deadline less what the run used, holds (nil: none). The plan reads the
// room each pool has for the run now, as a re-plan's does (freeWorld),
// with the room the run holds at its target counted as its own: target's
// count when the plan still holds it, else the plan's best-ranked count
// of that pool (the work left, or the room the pool now says it has,
// may call for another). It returns what the work left is, and a
// *spentError when the budget or deadline is used up.
func (c *Controller) fitsAfter(ctx context.Context, r *Run, target planner.Placement, step int64) (*planner.Placement, string, error) {
	at := *r
	m := *r.Migration
	m.ResumeStep, m.Restart = step, false
	at.Migration = &m
	w, job, err := c.worldJob(&at)
	if err != nil {
		return nil, "", err
	}
	left, note, err := remaining(job, &at, c.cfg.Now(), doneShare(&at))
	if err != nil {
		return nil, "", err
	}
	if err := c.lawBehind(); err != nil {
		return nil, "", err
	}
	u, err := c.usage(ctx)
	if err != nil {
		return nil, "", err
	}
	u = u.without(holdOf(r), r.Tenant)
	plan, err := c.plan(ctx, c.freeWorld(u, w, r.Tenant), left, c.today(), c.excludedNow(r))
	if err != nil {
		return nil, "", err
	}
	if note == "" {
		note = "the whole job"
	}
	var best *planner.Placement
	for i, p := range plan.Placements {
		if p.Site != target.Site || p.Pool != target.Pool {
			continue
		}
		if p.Count == target.Count {
			return &plan.Placements[i], note, nil
		}
		if best == nil {
			best = &plan.Placements[i]
		}
	}
	return best, note, nil
}

// checkpointCandidates is the run's latest checkpoint and then its older
// ones, newest first, each once.
func checkpointCandidates(r *Run) []*Checkpoint {
	out := []*Checkpoint{r.Checkpoint}
	for i := range r.Older {
		o := &r.Older[i]
		if o.Name == "" || slices.ContainsFunc(out, func(c *Checkpoint) bool { return c.Site == o.Site && c.Name == o.Name }) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// moveOne copies checkpoint ck of run r to target's store. It returns the
// moved checkpoint, or nil and why ck cannot move (a refusal no later try
// gets past), or an error as moveCheckpoint does.
func (c *Controller) moveOne(ctx context.Context, r *Run, ck *Checkpoint, target planner.Placement) (*Checkpoint, string, error) {
	w, job, err := c.worldJob(r)
	if notJudged(err) {
		return nil, "", err
	}
	if err != nil {
		return nil, "checkpoint not moved (" + err.Error() + ")", nil
	}
	from, to := w.Site(ck.Site), w.Site(target.Site)
	if from == nil || to == nil {
		return nil, fmt.Sprintf("checkpoint at step %d not moved (a site left the catalog)", ck.Step), nil
	}
	if ck.Site == target.Site {
		return ck, "", nil
	}
	if c.cfg.Stager == nil {
		return nil, "checkpoint not moved (this controller has no stager)", nil
	}
	if err := c.lawBehind(); err != nil {
		return nil, "", err
	}
	// The instant the law is asked about (every day it falls on somewhere
	// on Earth) gives the day the ledger records: read once, so that a
	// midnight between the two cannot record another.
	at := c.cfg.Now()
	day := transfer.Today(at)
	dec, _, err := c.checkpointLawAt(w, job, from, to, at)
	if notJudged(err) {
		return nil, "", err
	}
	if err != nil {
		return nil, fmt.Sprintf("checkpoint at step %d at %s not moved: %v", ck.Step, ck.Site, err), nil
	}
	key, err := c.runKeys().Get(r.ID)
	if err != nil {
		c.cfg.Logger.Warn("read a run's key to move its checkpoint", "run", r.ID, "tenant", r.Tenant, "err", err)
		return nil, "checkpoint not moved (the run's key could not be read)", nil
	}
	sealer, err := seal.New(key, ck.Name)
	if err != nil {
		return nil, fmt.Sprintf("checkpoint at step %d not moved (%v)", ck.Step, err), nil
	}
	srcBase, err := dataset.OpenStore(ctx, c.SiteStore(from))
	if err != nil {
		if retry := copyFailed(ctx, err); retry != nil {
			return nil, "", retry
		}
		return nil, c.siteFault(r, from.Metadata.Name, fmt.Sprintf("checkpoint at step %d not moved: the site's store could not be opened", ck.Step), err), nil
	}
	src := srcBase.Sub(checkpointPrefix(r.Tenant))
	defer src.Close()
	dstBase, err := dataset.OpenStore(ctx, c.SiteStore(to))
	if err != nil {
		if retry := copyFailed(ctx, err); retry != nil {
			return nil, "", retry
		}
		return nil, c.siteFault(r, to.Metadata.Name, fmt.Sprintf("checkpoint at step %d not moved: the site's store could not be opened", ck.Step), err), nil
	}
	dst := dstBase.Sub(checkpointPrefix(r.Tenant))
	defer dst.Close()
	// The copy holds the target store's staging lock from its first
	// object to its manifest, as a staging does: a law check that finds
	// the target unlawful meanwhile cannot withdraw the copy half-way
	// (its withdrawal finds the store busy and is deferred), only to have
	// the rest of the chunks and the manifest land after it.
	lctx, unlock, err := c.lockStaging(ctx, c.SiteStore(to)+"|"+catalog.TenantOr(r.Tenant))
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	if err := c.stillLeading(lctx); err != nil {
		return nil, "", err
	}
	// Read again under the lock: a law check may have given the target up
	// since this step read the run, and withdrawn what was at it. The copy
	// is then not made: nothing would withdraw it before the next change
	// of the law.
	if err := c.stillMovingTo(lctx, r.ID, target); err != nil {
		return nil, "", err
	}
	// A copy of this checkpoint that already arrived there whole (a
	// step that copied it and then stopped before the move was written:
	// a crash, a failed write, a re-judged target) is the one the move
	// goes on with: copied again, every object was read back from the
	// target to be checked and one more confirmation recorded, for bytes
	// that crossed once.
	if moved, err := c.arrivedCopy(lctx, r, ck, target, dst); err != nil || moved != nil {
		return moved, "", err
	}
	e := transfer.Entry{Kind: transfer.KindCheckpoint, Dataset: ck.Name, Site: to.Metadata.Name, FromSite: from.Metadata.Name,
		From: from.Spec.Country, To: to.Spec.Country, Rules: decisionRules(dec), AsOf: day.String(), RunID: r.ID}
	// A copy that runs past midnight sends the rest on another day, which
	// the law may judge otherwise (a rule in force from that day): it is
	// asked again, as the first check asked it, before more is sent, and
	// what crosses then is recorded as of that day with that day's rules;
	// its refusal stops the copy and gives this checkpoint up, as the
	// first check's would. Without this the copy stopped at midnight as a
	// store's passing failure, and the run waited out a retry only to be
	// judged by the next try.
	judge := func(at time.Time) (transfer.Entry, error) {
		if err := c.lawBehind(); err != nil {
			return transfer.Entry{}, err
		}
		dec, refused, err := c.checkpointLawAt(w, job, from, to, at)
		if notJudged(err) {
			return transfer.Entry{}, err
		}
		if err != nil {
			return transfer.Entry{}, &transfer.DeniedError{Dataset: ck.Name, From: from.Spec.Country, To: to.Spec.Country, AsOf: refused, Denials: dec.Denials}
		}
		next := e
		next.Rules, next.AsOf = decisionRules(dec), transfer.Today(at).String()
		return next, nil
	}
	// The copy keeps this controller's clock, the one its law is asked by:
	// on another, it would judge a day this check never saw.
	stager := *c.cfg.Stager
	stager.Now = c.cfg.Now
	res, err := stager.Copy(lctx, transfer.CopyRequest{Name: ck.Name, Sealer: sealer, Src: src, Dst: dst, Tenant: r.Tenant, Entry: e, Pin: ck.SHA256, Judge: judge,
		JudgedAt: at})
	if notJudged(err) {
		// The law could not be asked about the new day (the ledger of
		// exports unread, or a rules revision this server cannot load):
		// the move is tried again at the next step, the checkpoint kept.
		return nil, "", err
	}
	if err != nil {
		// A refusal (the law's, a digest that does not match, the
		// checkpoint gone from its store) gives this checkpoint up; a
		// store's passing failure does not, nor the lock's lease lost
		// (lctx ended: the copy was cut short, and copyFailed returns
		// that as it is).
		if retry := copyFailed(lctx, err); retry != nil && !errors.As(err, new(*transfer.DeniedError)) {
			return nil, "", retry
		}
		// What the copy sent before it stopped is of a checkpoint the
		// move passes over: nothing resumes from it, and the sweep of the
		// run's sites removes what its agents sealed, not a move's
		// copies. Withdrawn now, or it stayed at the target, on the
		// ledger, for good. Not withdrawn, the move is tried again.
		if derr := c.dropAbandoned(lctx, r, ck, from, to, day, err); derr != nil {
			return nil, "", fmt.Errorf("remove what the given-up copy of checkpoint %s left at %s: %w", ck.Name, to.Metadata.Name, derr)
		}
		return nil, c.copyFault(r, ck, to.Metadata.Name, err), nil
	}
	moved := *ck
	moved.Site = target.Site
	// The size is the one the copy read from the checkpoint's manifest,
	// which the digest pins: the one on the run is its agent's claim, and
	// the move's audit record is written from this.
	moved.Bytes = res.Bytes
	return &moved, "", nil
}

// dropAbandoned withdraws, and records the withdrawal of, what a copy of
// run r's checkpoint ck from site from to site to, given up on why, left at
// to, as of day. The caller holds to's staging lock (ctx is its lease). A
// checkpoint of the same name that the run itself holds at to (one its
// agent sealed there, or an earlier move's) is left alone: the run may
// resume from it.
func (c *Controller) dropAbandoned(ctx context.Context, r *Run, ck *Checkpoint, from, to *catalog.Site, day catalog.Date, why error) error {
	if slices.ContainsFunc(checkpointCandidates(r), func(o *Checkpoint) bool { return o.Site == to.Metadata.Name && o.Name == ck.Name }) {
		return nil
	}
	if err := c.stillLeading(ctx); err != nil {
		return err
	}
	cp := copyKey(r.Tenant, transfer.KindCheckpoint, ck.Name, to.Metadata.Name, r.ID)
	sctx, cancel := context.WithTimeoutCause(ctx, withdrawTimeout, errWithdrawSlow)
	defer cancel()
	n, found, err := c.removeCopy(sctx, cp, to)
	if err != nil {
		return err
	}
	dec := policy.Decision{Denials: []policy.Finding{{Code: policy.CodeDenied,
		Message: fmt.Sprintf("the copy of checkpoint %s of run %s to %s was given up part-way (%s): nothing resumes from what it sent", ck.Name, r.ID, to.Metadata.Name, truncate(why.Error(), 300))}}}
	// A copy the law refused on another day it was somewhere (a rule's
	// eve) names that day, as its reason does.
	days := ruleDays{asOf: day}
	if denied := (*transfer.DeniedError)(nil); errors.As(why, &denied) {
		days.rule = denied.AsOf
	}
	_, err = c.recordWithdrawn(ctx, cp, from.Spec.Country, to, dec, c.lawNow().Rev, days, n, found)
	return err
}

// arrivedCopy is checkpoint ck of run r as a copy already at target,
// when the ledger's last record of ck's copy there (since its last
// withdrawal there) completed it with ck's manifest digest, nothing was
// begun there after it, and dst (target's store) holds that manifest
// still; nil otherwise, and the copy is made (or finished) as usual. The
// law was asked about today before this (moveOne): what crossed is
// recorded as of the days it crossed.
func (c *Controller) arrivedCopy(ctx context.Context, r *Run, ck *Checkpoint, target planner.Placement, dst *dataset.Store) (*Checkpoint, error) {
	if ck.SHA256 == "" {
		return nil, nil // no digest to tell this version from another
	}
	// The manifest first: in the store of a target the checkpoint never
	// reached it is not there, and the ledger (the run's every intent,
	// each listing its objects) is not read for each checkpoint the move
	// tries.
	raw, err := dataset.ReadObject(ctx, dst, dataset.ManifestKey(ck.Name), dataset.MaxManifestBytes)
	if err != nil || dataset.CheckPin(ck.Name, raw, ck.SHA256) != nil {
		// Gone, another version, or not read: the copy checks and
		// sends what the target lacks, as it would have.
		return nil, nil
	}
	led, err := c.checkpointLedger(ctx, r, ck.Name, target.Site, true)
	if err != nil {
		return nil, err
	}
	if led.complete == nil || led.complete.ManifestSHA256 != ck.SHA256 {
		return nil, nil
	}
	moved := *ck
	moved.Site = target.Site
	moved.Bytes = led.complete.Bytes
	return &moved, nil
}

// ckCopyLedger is what the ledger says of one checkpoint's copy at one
// site since it was last withdrawn there: the days on which anything of
// it crossed, in order, and the confirmation that completed it, when
// nothing was begun there after that.
type ckCopyLedger struct {
	days     []string
	complete *transfer.Entry
}

// checkpointLedger reads the ledger's record of run r's checkpoint name
// copied to site. Without intents, it reads no intent (which lists its
// objects), and complete may be of a copy begun again since.
func (c *Controller) checkpointLedger(ctx context.Context, r *Run, name, site string, intents bool) (ckCopyLedger, error) {
	var out ckCopyLedger
	kinds := []string{transfer.KindTransfer, transfer.KindWithdrawn}
	if intents {
		kinds = append(kinds, transfer.KindIntent)
	}
	q, err := c.runRecordsQuery(ctx, store.AuditQuery{RunID: r.ID, AllTenants: true, Kinds: kinds})
	if err != nil {
		return out, &storeReadError{fmt.Errorf("the start of run %s's records: %w", r.ID, err)}
	}
	es, err := c.cfg.Store.AuditSelect(ctx, q)
	if err != nil {
		return out, &storeReadError{fmt.Errorf("the ledger of run %s's checkpoint copies: %w", r.ID, err)}
	}
	tenant := catalog.TenantOr(r.Tenant)
	want := copyKey(tenant, transfer.KindCheckpoint, name, site, r.ID)
	for _, e := range es {
		if catalog.TenantOr(e.Tenant) != tenant {
			continue
		}
		switch e.Kind {
		case transfer.KindIntent:
			var in transfer.Entry
			if json.Unmarshal(e.Payload, &in) != nil || copyKey(e.Tenant, in.Kind, in.Dataset, in.Site, in.RunID) != want {
				continue
			}
			// Another copy began there after the last completed:
			// what it found, deleted or left is not known here.
			out.complete = nil
		case transfer.KindTransfer:
			var t transfer.Entry
			if json.Unmarshal(e.Payload, &t) != nil || copyKey(e.Tenant, t.Kind, t.Dataset, t.Site, t.RunID) != want {
				continue
			}
			if t.BytesSent > 0 || t.Complete {
				if !slices.Contains(out.days, t.AsOf) {
					out.days = append(out.days, t.AsOf)
				}
			}
			if t.Complete {
				out.complete = &t
			}
		case transfer.KindWithdrawn:
			var w transfer.Withdrawn
			if json.Unmarshal(e.Payload, &w) == nil && copyKey(e.Tenant, w.Kind, w.Dataset, w.Site, w.Run) == want {
				out = ckCopyLedger{}
			}
		}
	}
	return out, nil
}

// errTargetChanged is why a checkpoint's copy was not made: the run's
// move no longer goes to the target the step set out for.
var errTargetChanged = errors.New("the run's move no longer goes to that target")

// stillMovingTo reads run id again and says whether it is still moving to
// target (site and pool): errTargetChanged when not.
func (c *Controller) stillMovingTo(ctx context.Context, id string, target planner.Placement) error {
	row, err := c.cfg.Store.GetRun(ctx, id)
	if err != nil {
		return err
	}
	r, err := fromRow(row)
	if err != nil {
		return err
	}
	if !movingTo(r, target) {
		return errTargetChanged
	}
	return nil
}

// movingTo reports whether r is moving to target (its site and pool).
func movingTo(r *Run, target planner.Placement) bool {
	m := r.Migration
	return r.State == Migrating && m != nil && m.Target != nil && m.Target.Site == target.Site && m.Target.Pool == target.Pool
}

// checkpointLaw asks whether each of the job's datasets may go from the
// checkpoint's site to the target site on day: weights trained on data
// move under that data's transfer rules. A refusal's error comes with the
// refusing dataset's denials in the decision.
func (c *Controller) checkpointLaw(w *catalog.World, job *catalog.TrainingJob, from, to *catalog.Site, day catalog.Date) (policy.Decision, error) {
	law := c.cfg.Stager.Law
	q := transfer.JobQuery(w, job, day)
	probe := c.exportsProbe()
	q.Exports = probe.exports()
	all := policy.Decision{Allowed: true}
	for _, name := range job.Spec.Datasets {
		ds := w.Datasets[name]
		if ds == nil {
			return all, fmt.Errorf("dataset %s is not known", name)
		}
		moved := *ds
		moved.Spec.Location = from.Metadata.Name
		// The query names the moving copy in the dataset's place: the
		// engine takes a dataset it is not given as one more of the
		// query's, and one named twice is denied (fail closed), which
		// gave up every checkpoint of a job with datasets.
		mq := q
		mq.Datasets = make([]*catalog.Dataset, len(q.Datasets))
		for i, d := range q.Datasets {
			if d == ds {
				d = &moved
			}
			mq.Datasets[i] = d
		}
		dec := law.EvaluateTransfer(mq, &moved, to.Spec.Country)
		if err := probe.failed(); err != nil {
			return all, &storeReadError{fmt.Errorf("transfer ledger: %w", err)}
		}
		all.Obligations = append(all.Obligations, dec.Obligations...)
		all.Advisories = append(all.Advisories, dec.Advisories...)
		// A decision that allows the move while it lists a denial is not
		// one the law could give: refused, as a staging refuses it.
		if !dec.Allowed || len(dec.Denials) > 0 {
			all.Allowed, all.Denials = false, dec.Denials
			msg := fmt.Sprintf("the law does not let dataset %s's derived weights go from %s to %s", name, from.Spec.Country, to.Spec.Country)
			for _, f := range dec.Denials {
				msg += fmt.Sprintf("; rule %s: %s", f.Rule, f.Message)
			}
			return all, errors.New(msg)
		}
	}
	return all, nil
}

func decisionRules(dec policy.Decision) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, l := range [][]policy.Finding{dec.Denials, dec.Obligations, dec.Advisories} {
		for _, f := range l {
			if !seen[f.Rule] {
				seen[f.Rule] = true
				out = append(out, f.Rule)
			}
		}
	}
	return out
}
