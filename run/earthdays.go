package run

import (
	"context"
	"fmt"
	"slices"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/transfer"
)

// A decision the controller takes now (an attempt's start, a checkpoint's
// copy, whether a staged copy may stay) is lawful only if it is lawful on
// every day it is now somewhere on Earth (transfer.Days): a rule is in
// force in a time zone from the moment its day begins there, up to 14
// hours before it begins in UTC, and a rule that ends on a day binds until
// that day has begun everywhere, 12 hours after it begins in UTC. Judged
// by the UTC day alone, a run started or a copy made on the eve of a rule
// east of UTC broke it. What the controller records of the decision (an
// audit record's or a ledger entry's day) stays the UTC day; a refusal's
// record also names the day that refused (its ruleDay). A decision that
// every day allows carries the obligations and advisories of each (those
// of a day other than the UTC day noting it, mergeDuties): a run started
// on the eve of a rule that adds a duty is bound by it where the rule's
// day has begun.

// onEveryDay judges a decision taken at the instant at with judge, on each
// day at falls on somewhere on Earth: the first refusal of the law
// (policy.CodeDenied) there is, its denials noting the day that refused;
// else the first decision that did not allow (undetermined); else the
// decision of the UTC day, with the other days' obligations and
// advisories (mergeDuties). An error ends the judgement as it is.
func onEveryDay(at time.Time, judge func(day catalog.Date) (policy.Decision, error)) (policy.Decision, error) {
	dec, _, err := onEveryDayOf(at, judge)
	return dec, err
}

// onEveryDayOf is onEveryDay that also answers the day whose decision it
// is: the day that refused, else the UTC day.
func onEveryDayOf(at time.Time, judge func(day catalog.Date) (policy.Decision, error)) (policy.Decision, catalog.Date, error) {
	today := transfer.Today(at)
	var out, refused policy.Decision
	var refusedOn catalog.Date
	found := false
	// The other days' decisions, kept for their duties: at most two
	// (transfer.Days spans three days at most), on the stack.
	var buf [3]dayDecision
	others := buf[:0]
	for _, day := range transfer.Days(at) {
		dec, err := judge(day)
		if err != nil {
			return dec, day, err
		}
		if !dec.Allowed {
			dec = zoned(dec, day, today)
			if hasCode(dec, policy.CodeDenied) {
				return dec, day, nil
			}
			if !found {
				refused, refusedOn, found = dec, day, true
			}
			continue
		}
		if day.Equal(today.Time) {
			out = dec
		} else {
			others = append(others, dayDecision{day: day, dec: dec})
		}
	}
	if found {
		return refused, refusedOn, nil
	}
	return mergeDuties(out, others, today), today, nil
}

// dayDecision is a decision and the day it was judged on.
type dayDecision struct {
	day catalog.Date
	dec policy.Decision
}

// mergeDuties is out, the UTC day's decision, with the obligations and
// advisories of the other days' decisions others that it lacks, each
// noting the day it is of (transfer.ZoneNote), once. Without them a
// decision lawful on every day it is somewhere carried the UTC day's
// duties alone: a run placed on the eve of a rule that adds a duty from
// the next day (an AI Act obligation, say) was bound by the next day's
// law where it had begun, yet its list left that duty out. A decision
// with no other day's duty is returned as it is, allocating nothing.
func mergeDuties(out policy.Decision, others []dayDecision, today catalog.Date) policy.Decision {
	if len(others) == 0 {
		return out
	}
	out.Obligations = mergeFindings(out.Obligations, others, today, func(d policy.Decision) []policy.Finding { return d.Obligations })
	out.Advisories = mergeFindings(out.Advisories, others, today, func(d policy.Decision) []policy.Finding { return d.Advisories })
	return out
}

// mergeFindings is own (the UTC day's findings) with each finding of
// list(o.dec), for each o of others in turn, that neither own nor an
// earlier day has, noted with its day. own is not written to: it may be
// the law engine's, or a plan's.
func mergeFindings(own []policy.Finding, others []dayDecision, today catalog.Date, list func(policy.Decision) []policy.Finding) []policy.Finding {
	out := slices.Clip(own)
	for i, o := range others {
		for _, f := range list(o.dec) {
			if slices.Contains(own, f) || slices.ContainsFunc(others[:i], func(e dayDecision) bool { return slices.Contains(list(e.dec), f) }) {
				continue
			}
			f.Message = transfer.WithNote(f.Message, transfer.ZoneNote(o.day, today))
			out = append(out, f)
		}
	}
	return out
}

// zoned is dec with each denial saying, when day is not today (the UTC
// day), that it is that day in some time zone (transfer.Zoned).
func zoned(dec policy.Decision, day, today catalog.Date) policy.Decision {
	dec.Denials = transfer.Zoned(dec.Denials, day, today)
	return dec
}

// placementLawAt is placementLaw for a decision taken at the instant at:
// lawful only if lawful on every day it is then somewhere (onEveryDay).
func placementLawAt(w *catalog.World, job *catalog.TrainingJob, site *catalog.Site, poolIdx int, at time.Time, ln LawNow) (policy.Decision, error) {
	dec, _, err := placementLawDayAt(w, job, site, poolIdx, at, ln)
	return dec, err
}

// placementLawDayAt is placementLawAt that also answers the day whose
// decision it is (onEveryDayOf): a refusal's reason names that day.
func placementLawDayAt(w *catalog.World, job *catalog.TrainingJob, site *catalog.Site, poolIdx int, at time.Time, ln LawNow) (policy.Decision, catalog.Date, error) {
	return onEveryDayOf(at, func(day catalog.Date) (policy.Decision, error) {
		return placementLaw(w, job, site, poolIdx, day, ln.Law, ln.Exports)
	})
}

// checkpointLawAt is checkpointLaw for a copy made at the instant at: the
// copy may be made only if every day it is then somewhere allows it. It
// answers the day whose law refused (else the UTC day, the one the ledger
// records) with checkpointLaw's decision and error, the refusal's naming
// that day; a copy every day allows carries each day's duties
// (mergeDuties), whose rules its ledger entry lists.
func (c *Controller) checkpointLawAt(w *catalog.World, job *catalog.TrainingJob, from, to *catalog.Site, at time.Time) (policy.Decision, catalog.Date, error) {
	today := transfer.Today(at)
	var out policy.Decision
	var buf [3]dayDecision
	others := buf[:0]
	for _, day := range transfer.Days(at) {
		dec, err := c.checkpointLaw(w, job, from, to, day)
		if err != nil {
			if note := transfer.ZoneNote(day, today); note != "" && !notJudged(err) {
				err = fmt.Errorf("%w%s", err, note)
			}
			return zoned(dec, day, today), day, err
		}
		if day.Equal(today.Time) {
			out = dec
		} else {
			others = append(others, dayDecision{day: day, dec: dec})
		}
	}
	return mergeDuties(out, others, today), today, nil
}

// copyDecisionAt is copyDecision for a staged copy judged at the instant
// at: it may stay only where every day it is then somewhere lets it
// (onEveryDayOf), and on is the day whose decision it is (the day that
// refused, which a withdrawal's record names). A rule that forbids it
// from a day withdraws it once that day has begun anywhere, up to 14
// hours before the day begins in UTC.
func (c *Controller) copyDecisionAt(ctx context.Context, cp stagedCopy, ln LawNow, at time.Time) (dec policy.Decision, on catalog.Date, from string, site *catalog.Site, resume, ok bool, err error) {
	// A day the copy could not be judged for leaves it undetermined,
	// unless another day refuses it.
	judged := true
	dec, on, err = onEveryDayOf(at, func(day catalog.Date) (policy.Decision, error) {
		d, f, s, r, k, err := c.copyDecision(ctx, cp, ln, day)
		if err != nil {
			return d, err
		}
		if !k {
			judged = false
			return policy.Decision{Allowed: true}, nil
		}
		from, site, resume = f, s, r
		return d, nil
	})
	if err != nil {
		return policy.Decision{}, on, "", nil, false, false, err
	}
	if !judged && !hasCode(dec, policy.CodeDenied) {
		return policy.Decision{}, on, "", nil, false, false, nil
	}
	return dec, on, from, site, resume, true, nil
}

// lawfulOnOtherDays judges placement p at the instant at on every day it
// is then somewhere on Earth other than the UTC day (the day a plan made
// then is judged on), as onEveryDay does: allowed, it carries p's own
// obligations and advisories with the other days' (mergeDuties).
func lawfulOnOtherDays(w *catalog.World, job *catalog.TrainingJob, p planner.Placement, at time.Time, ln LawNow) (policy.Decision, error) {
	today := transfer.Today(at)
	return onEveryDay(at, func(day catalog.Date) (policy.Decision, error) {
		if day.Equal(today.Time) {
			// The plan's own day, judged by the plan.
			return policy.Decision{Allowed: true, Obligations: p.Obligations, Advisories: p.Advisories}, nil
		}
		return placementLaw(w, job, w.Site(p.Site), p.Pool, day, ln.Law, ln.Exports)
	})
}

// dropUnlawfulElsewhere rejects, of a plan made as of today (the UTC day
// of now), the placements that another day it now is somewhere on Earth
// refuses: the run's start and its data's staging judge every such day
// (placementLawAt, the Stager), and a run submitted, admitted or
// preempted onto such a place was refused there, its data's staging
// failing it for good. A plan for another day is left as it is, and so
// are its placements, and its lawfulUntil, on the UTC day. A placement
// kept carries the other days' obligations and advisories too, each
// noting its day (mergeDuties): it is bound by their law where they have
// begun, as its start is judged by it.
func (c *Controller) dropUnlawfulElsewhere(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, plan *planner.Plan) error {
	now := c.cfg.Now()
	if len(plan.Placements) == 0 || !asOf.Equal(transfer.Today(now).Time) {
		return nil
	}
	ln := c.lawNow()
	if ln.Law == nil {
		return nil
	}
	keep := make([]planner.Placement, 0, len(plan.Placements))
	for _, p := range plan.Placements {
		dec, err := lawfulOnOtherDays(w, job, p, now, ln)
		if notJudged(err) {
			return err
		}
		var why policy.Finding
		switch {
		case err != nil:
			why = policy.Finding{Rule: policy.EngineRule, Kind: string(planner.KindLaw), Code: policy.CodeUndetermined,
				Message: fmt.Sprintf("%s pool %d cannot be judged in every time zone now: %v", p.Site, p.Pool, err)}
		case dec.Allowed:
			p.Obligations, p.Advisories = dec.Obligations, dec.Advisories
			keep = append(keep, p)
			continue
		default:
			why = firstDenial(dec)
			why.Kind = string(planner.KindLaw)
			if why.Code == "" {
				why.Code = policy.CodeDenied
			}
			why.Message = fmt.Sprintf("%s is lawful as of %s but not now in every time zone (%s): a run placed there would be refused its start", p.Site, asOf, denialText(dec))
		}
		plan.Rejected = append(plan.Rejected, planner.Rejection{Site: p.Site, Country: p.Country, Accelerator: p.Accelerator,
			Kind: planner.KindLaw, Resolution: planner.KindLaw.Resolution(), Candidates: 1, Reasons: []policy.Finding{why}})
		if plan.Summary.RejectedByKind == nil {
			plan.Summary.RejectedByKind = map[string]int{}
		}
		plan.Summary.RejectedByKind[string(planner.KindLaw)]++
	}
	plan.Summary.Placements -= len(plan.Placements) - len(keep)
	plan.Placements = keep
	return nil
}
