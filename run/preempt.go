package run

import (
	"context"
	"fmt"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// Preemption. A waiting run may take the place of a running run of the
// same tenant with a lower priority, and only:
//
//   - at a checkpoint: the victim has written one, and it is asked to
//     checkpoint again and stop (drained, as for a move the law makes), so
//     that it resumes from where it stopped;
//   - where the victim has a lawful place to resume or wait: its plan,
//     capacity aside, still has a lawful placement (its own site at least);
//   - where the victim's place is what the waiting run lacks: planned as
//     if the victim's hold were free, the waiting run fits.
//
// The victim then waits for room (held, wait: capacity), behind the
// preempting run in the admission order. One decision audit record
// (decision: preempt) names both runs, both priorities and why; each run's
// timeline says it too.

// preemptedReason marks a move that is a preemption (Migration.Reason).
const preemptedReason = "preempted"

// tryPreempt looks for a run to preempt for waiting run w; it reports
// whether it started one. active are the controller's decoded active runs.
func (c *Controller) tryPreempt(ctx context.Context, u *usage, w *Run, active []*Run) (bool, error) {
	if w.Hold == nil || w.Hold.Wait != WaitCapacity {
		return false, nil
	}
	var victim *Run
	for _, r := range active {
		if r.Tenant != w.Tenant {
			continue
		}
		if r.State == Migrating && r.Migration != nil && r.Migration.PreemptedBy == w.ID {
			return false, nil // one at a time: its drain is under way
		}
		if (r.State != Running && r.State != Checkpointed) || r.Checkpoint == nil || r.Checkpoint.Name == "" ||
			r.Priority >= w.Priority || r.CancelRequested || r.Migration != nil {
			continue
		}
		if victim == nil || r.Priority < victim.Priority || r.Priority == victim.Priority && r.CreatedAt.After(victim.CreatedAt) {
			victim = r
		}
	}
	if victim == nil {
		return false, nil
	}
	// Would w fit in the victim's place?
	ww, wjob, err := c.worldJob(w)
	if err != nil {
		return false, nil
	}
	freed := u.without(holdOf(victim), victim.Tenant)
	asOf := c.today()
	plan, err := c.plan(c.freeWorld(freed, ww, w.Tenant), wjob, asOf, w.Excluded)
	if err != nil {
		return false, err
	}
	if _, _, _, ok := bestRunnable(plan.Placements); !ok {
		return false, nil
	}
	// Has the victim a lawful place to resume or wait?
	vw, vjob, err := c.worldJob(victim)
	if err != nil {
		return false, nil
	}
	vplan, err := c.plan(vw, vjob, asOf, victim.Excluded)
	if err != nil {
		return false, err
	}
	if _, _, _, ok := bestRunnable(vplan.Placements); !ok {
		return false, nil
	}
	ln := c.lawNow()
	why := fmt.Sprintf("run %s (priority %d) waits for capacity and fits in the place of run %s (priority %d, checkpoint at step %d); %s keeps %d lawful placements as of %s (rules revision %d) to resume or wait for",
		w.ID, w.Priority, victim.ID, victim.Priority, victim.Checkpoint.Step, victim.ID, len(vplan.Placements), asOf, ln.Rev)
	now := c.cfg.Now()
	_, err = c.update(ctx, victim.ID, func(r *Run, ch *store.Change) error {
		if (r.State != Running && r.State != Checkpointed) || r.Migration != nil || r.CancelRequested || r.Checkpoint == nil {
			return store.ErrNoChange
		}
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]any{
			"decision": "preempt", "preempted": r.ID, "priority": r.Priority, "by": w.ID, "byPriority": w.Priority,
			"tenant": r.Tenant, "site": r.Site, "attempt": r.Attempt, "checkpointStep": r.Checkpoint.Step, "why": why,
			"resumePlacements": len(vplan.Placements), "asOf": asOf.String(), "revision": ln.Rev})
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		reason := fmt.Sprintf("%s by run %s (priority %d over %d): checkpointing and stopping at %s", preemptedReason, w.ID, w.Priority, r.Priority, r.Site)
		r.Migration = &Migration{From: r.Site, Reason: reason, LostAt: now, Drain: true, DrainBy: time.Now().Add(c.cfg.DrainGrace), PreemptedBy: w.ID}
		ch.Events = append(ch.Events, store.Event{Kind: "preempted", Reason: why})
		return transition(ch, r, Migrating, reason)
	})
	if err != nil {
		return false, err
	}
	_, err = c.update(ctx, w.ID, func(r *Run, ch *store.Change) error {
		if r.State != Held {
			return store.ErrNoChange
		}
		ch.Events = append(ch.Events, store.Event{Kind: "preempting", Reason: why})
		return nil
	})
	c.Nudge()
	return err == nil, err
}

// waitAfterPreemption holds a preempted run, drained, for room: it does
// not take its place back before the run that preempted it is admitted.
func (c *Controller) waitAfterPreemption(ctx context.Context, r *Run) (bool, error) {
	s, i := r.Site, r.Placement.Pool
	wants := []Want{{Site: s, Pool: i, Accelerator: r.Placement.Accelerator}}
	if base, err := c.capacityWorld(); err == nil && base.Site(s) != nil {
		if u, err := c.usage(ctx); err == nil {
			wants[0].Free, _ = c.roomFor(u, base.Site(s), i, r.Tenant)
		}
	}
	return c.holdWait(ctx, r, fmt.Sprintf("%s by run %s; waiting for capacity to resume from checkpoint %s", preemptedReason, r.Migration.PreemptedBy, ckText(r.Checkpoint)),
		policy.CodeNotNow, "", c.lawNow().Rev, WaitCapacity, wants)
}

// without is u less one hold.
func (u *usage) without(h store.Hold, tenant string) *usage {
	out := &usage{pool: make(map[poolKey]int, len(u.pool)), tenant: make(map[string]map[string]int, len(u.tenant))}
	for k, v := range u.pool {
		out.pool[k] = v
	}
	for t, m := range u.tenant {
		out.tenant[t] = make(map[string]int, len(m))
		for a, v := range m {
			out.tenant[t][a] = v
		}
	}
	if h.Count > 0 {
		out.pool[poolKey{h.Site, h.Pool}] -= h.Count
		if out.tenant[tenant] != nil {
			out.tenant[tenant][h.Accelerator] -= h.Count
		}
	}
	return out
}
