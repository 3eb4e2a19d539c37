package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
// Quota lent within a cohort is reclaimed the same way (as Kueue's
// reclaimWithinCohort does), whatever the priorities: a run whose tenant
// holds less than its nominal quota of a family, and would still hold no
// more than its nominal with the run admitted, may take the place of
// another tenant's run of the same cohort whose tenant holds more than its
// own nominal of that family (it borrows), at that run's checkpoint and
// only where it keeps a lawful place to resume or wait. Neither tenant is
// told the other's run or name.
//
// The victim then waits for room (held, wait: capacity), behind the
// preempting run in the admission order. One decision audit record
// (decision: preempt) names both runs, both priorities and why; each run's
// timeline says it too.

// errPreemptPlansSpent is tryPreempt's answer once the admission pass has
// made its preemption plans (maxPreemptPlans).
var errPreemptPlansSpent = errors.New("the admission pass has made its preemption plans")

// preemptedReason marks a move that is a preemption (Migration.Reason).
const preemptedReason = "preempted"

// tryPreempt looks for a run to preempt for waiting run w; it returns the
// run it started preempting (nil: none). active are the controller's
// decoded active runs. It plans twice at most, each plan taken from
// *plans; with fewer than two left it plans nothing and answers
// errPreemptPlansSpent.
func (c *Controller) tryPreempt(ctx context.Context, u *usage, w *Run, active []*Run, plans *int) (*Run, error) {
	if w.Hold == nil || (w.Hold.Wait != WaitCapacity && w.Hold.Wait != WaitQuota) || w.CancelRequested {
		return nil, nil
	}
	var victim, lender *Run
	for _, r := range active {
		if r.State == Migrating && r.Migration != nil && r.Migration.PreemptedBy == preemptRef(w, r) {
			return nil, nil // one at a time: its drain is under way
		}
		if (r.State != Running && r.State != Checkpointed) || r.Checkpoint == nil || r.Checkpoint.Name == "" ||
			r.CancelRequested || r.Migration != nil {
			continue
		}
		switch {
		case r.Tenant == w.Tenant:
			if w.Hold.Wait != WaitCapacity || r.Priority >= w.Priority {
				continue
			}
			if victim == nil || r.Priority < victim.Priority || r.Priority == victim.Priority && r.CreatedAt.After(victim.CreatedAt) {
				victim = r
			}
		case c.borrowsFrom(u, r, w):
			if lender == nil || r.Priority < lender.Priority || r.Priority == lender.Priority && r.CreatedAt.After(lender.CreatedAt) {
				lender = r
			}
		}
	}
	reclaim := false
	if victim == nil {
		victim, reclaim = lender, true
	}
	if victim == nil {
		return nil, nil
	}
	// The sites each lost, as their sealed records say: a row whose list
	// was cut short outside Meridian brings none of them back into a
	// plan, and neither run is preempted for or preempted. A refusal is
	// logged once (excludedWarn), not at every pass.
	wExcluded, err := c.excludedConfirmed(ctx, w)
	if err != nil {
		return nil, c.preemptRefused(w.ID, err)
	}
	vExcluded, err := c.excludedConfirmed(ctx, victim)
	if err != nil {
		return nil, c.preemptRefused(victim.ID, err)
	}
	if *plans < 2 {
		return nil, errPreemptPlansSpent
	}
	*plans -= 2
	// Would w fit in the victim's place?
	ww, wjob, _, err := c.jobLeft(w)
	if err != nil {
		return nil, nil
	}
	freed := u.without(holdOf(victim), victim.Tenant)
	asOf := c.today()
	plan, err := c.plan(ctx, c.freeWorld(freed, ww, w.Tenant), wjob, asOf, wExcluded)
	if err != nil {
		return nil, err
	}
	best, _, _, ok := bestRunnable(plan.Placements)
	if !ok {
		return nil, nil
	}
	// What each tenant holds of the lent family against its nominal, read
	// once from one set of quotas (a reload may swap them meanwhile).
	q, acc := c.quotas(), victim.Placement.Accelerator
	wHeld, vHeld := c.familyHeld(u, w.Tenant, acc), c.familyHeld(u, victim.Tenant, acc)
	wNominal, _ := q.Nominal(w.Tenant, acc)
	vNominal, _ := q.Nominal(victim.Tenant, acc)
	if reclaim && (wHeld+best.Count > wNominal || q.FamilyOf(w.Tenant, best.Accelerator) != q.FamilyOf(w.Tenant, acc)) {
		// Reclaimed quota is lent quota: the run must fit in its tenant's
		// own nominal, or two borrowers would take turns preempting.
		return nil, nil
	}
	// Has the victim a lawful place to resume or wait?
	vw, vjob, _, err := c.jobLeft(victim)
	var spent *spentError
	if errors.As(err, &spent) {
		// Its attempts used up its budget or deadline: its next plan ends
		// it rather than place it. That must not keep it where it is (a
		// borrower would keep lent quota for as long as its workload ran):
		// it is judged on the whole job, as before any attempt ran.
		vw, vjob, err = c.worldJob(victim)
	}
	if err != nil {
		return nil, nil
	}
	vplan, err := c.plan(ctx, vw, vjob, asOf, vExcluded)
	if err != nil {
		return nil, err
	}
	if _, _, _, ok := bestRunnable(vplan.Placements); !ok {
		return nil, nil
	}
	ln := c.lawNow()
	why := fmt.Sprintf("run %s (priority %d) waits for capacity and fits in the place of run %s (priority %d, checkpoint at step %d); %s keeps %d lawful placements as of %s (rules revision %d) to resume or wait for",
		w.ID, w.Priority, victim.ID, victim.Priority, victim.Checkpoint.Step, victim.ID, len(vplan.Placements), asOf, ln.Rev)
	// What each tenant's timeline says: the other's run is named only
	// within one tenant.
	victimWhy, preemptorWhy := why, why
	reason := fmt.Sprintf("%s by run %s (priority %d over %d): checkpointing and stopping at %s", preemptedReason, w.ID, w.Priority, victim.Priority, victim.Site)
	if reclaim {
		cohort, fam := q.Cohort(w.Tenant), q.FamilyOf(victim.Tenant, acc)
		victimWhy = fmt.Sprintf("another tenant of cohort %s reclaims the %s quota it lent: this run's tenant holds %d over its nominal %d; the run stops at its checkpoint (step %d) and keeps %d lawful placements as of %s to resume or wait for",
			cohort, fam, vHeld, vNominal, victim.Checkpoint.Step, len(vplan.Placements), asOf)
		preemptorWhy = fmt.Sprintf("reclaiming %s quota lent within cohort %s: this tenant holds %d of its nominal %d; a borrowing run of another tenant stops at its checkpoint", fam, cohort,
			wHeld, wNominal)
		reason = fmt.Sprintf("%s: quota reclaimed by another tenant of cohort %s; checkpointing and stopping at %s", preemptedReason, cohort, victim.Site)
	}
	ref := preemptRef(w, victim)
	now := c.cfg.Now()
	took := false
	_, err = c.update(ctx, victim.ID, func(r *Run, ch *store.Change) error {
		took = false
		if (r.State != Running && r.State != Checkpointed) || r.Migration != nil || r.CancelRequested || r.Checkpoint == nil {
			return store.ErrNoChange
		}
		payload := map[string]any{
			"decision": "preempt", "preempted": r.ID, "priority": r.Priority, "by": ref, "byPriority": w.Priority,
			"tenant": r.Tenant, "site": r.Site, "attempt": r.Attempt, "checkpointStep": r.Checkpoint.Step, "why": why,
			"reclaim": reclaim, "resumePlacements": len(vplan.Placements), "asOf": asOf.String(), "revision": ln.Rev}
		if reclaim {
			// The record is the borrower's tenant's to read: the lender's
			// run is named by the reference both records carry.
			payload["why"] = victimWhy
			delete(payload, "byPriority")
		}
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, payload)
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		r.Migration = &Migration{From: r.Site, Reason: reason, LostAt: now, Drain: true, DrainBy: time.Now().Add(c.cfg.DrainGrace), PreemptedBy: ref, Reclaimed: reclaim}
		ch.Events = append(ch.Events, store.Event{Kind: "preempted", Reason: victimWhy})
		took = true
		return transition(ch, r, Migrating, reason)
	})
	if err != nil || !took {
		// Not preempted (it moved, ended or was preempted since it was
		// read): w is told nothing.
		return nil, err
	}
	_, err = c.update(ctx, w.ID, func(r *Run, ch *store.Change) error {
		if r.State != Held {
			return store.ErrNoChange
		}
		ch.Events = append(ch.Events, store.Event{Kind: "preempting", Reason: preemptorWhy})
		if reclaim {
			rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]any{
				"decision": "reclaim", "run": r.ID, "reclaimed": ref, "priority": r.Priority, "tenant": r.Tenant,
				"why": preemptorWhy, "asOf": asOf.String(), "revision": ln.Rev})
			if err != nil {
				return err
			}
			ch.Audit = append(ch.Audit, rec)
		}
		return nil
	})
	c.Nudge()
	if err != nil {
		return nil, err
	}
	return victim, nil
}

// preemptRefused is err, a confirmation of run id's excluded sites that
// failed, as tryPreempt answers it: nil for a refusal already logged.
func (c *Controller) preemptRefused(id string, err error) error {
	if errors.Is(err, ErrRunChanged) && !c.excludedWarn(id, err) {
		return nil
	}
	return err
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
	by := "run " + r.Migration.PreemptedBy
	if r.Migration.Reclaimed {
		by = "another tenant reclaiming lent quota"
	}
	return c.holdWait(ctx, r, fmt.Sprintf("%s by %s; waiting for capacity to resume from checkpoint %s", preemptedReason, by, ckText(r.Checkpoint)),
		policy.CodeNotNow, "", c.lawNow().Rev, WaitCapacity, wants)
}

// preemptRef is how the victim's records name the run that preempts it:
// its id within a tenant; across tenants (a reclaim) a reference that only
// the two runs' audit records share, so that neither tenant learns the
// other's run while the operator can join them.
func preemptRef(w, victim *Run) string {
	if w.Tenant == victim.Tenant {
		return w.ID
	}
	h := sha256.Sum256([]byte("meridian reclaim\x00" + w.ID + "\x00" + victim.ID))
	return "reclaim-" + hex.EncodeToString(h[:8])
}

// borrowsFrom reports whether running run r is another tenant's whose
// quota w's tenant lent: both tenants in one cohort, r's tenant holding more
// than its nominal of the family of r's accelerator, and w's tenant less
// than its own.
func (c *Controller) borrowsFrom(u *usage, r, w *Run) bool {
	q := c.quotas()
	if q == nil || r.Placement.Accelerator == "" || r.Tenant == w.Tenant {
		return false
	}
	cohort := q.Cohort(w.Tenant)
	if cohort == "" || q.Cohort(r.Tenant) != cohort {
		return false
	}
	acc := r.Placement.Accelerator
	wNominal, ok := q.Nominal(w.Tenant, acc)
	if !ok {
		return false
	}
	rNominal, _ := q.Nominal(r.Tenant, acc)
	return c.familyHeld(u, w.Tenant, acc) < wNominal && c.familyHeld(u, r.Tenant, acc) > rNominal
}

// familyHeld is what tenant holds of the family acc belongs to (in that
// tenant's quota), or of acc alone when no family holds it.
func (c *Controller) familyHeld(u *usage, tenant, acc string) int {
	q := c.quotas()
	fam := q.FamilyOf(tenant, acc)
	n := 0
	for a, k := range u.tenant[tenant] {
		if a == acc || fam != "" && q.FamilyOf(tenant, a) == fam {
			n += k
		}
	}
	return n
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
