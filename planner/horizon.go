package planner

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// horizonAhead bounds how far ahead a placement's horizon is looked for.
const horizonAhead = 3 * 366 * 24 * time.Hour

// RuleHorizon is the advisory rule id a plan uses for a placement that
// stops being lawful before the run would end.
const RuleHorizon = "meridian-lawful-horizon"

// horizons gives each placement the first day (after the plan's date and
// before the run's end at the job's confidence quantile, ends[i] hours
// after the plan's day for placement i, as the deadline check takes it) on
// which a rule already loaded makes it unlawful, when the law can say
// (DatedLaw). Those placements are ranked
// below the others, with an advisory saying why; the order is otherwise
// kept. Only dates inside a placement's own run are looked at: that bounds
// the cost to the few rule dates a run spans, and a date after the run ends
// does not touch it.
func (p *planner) horizons(pl *Plan, ends []float64) error {
	dl, ok := p.law.(DatedLaw)
	if !ok || len(pl.Placements) == 0 {
		return nil
	}
	limit := p.asOf.Add(horizonAhead)
	// A query's own days are each a session and every placement judged
	// again: only those the law says can change its answers.
	queryDates := policy.QueryDates
	if ql, ok := p.law.(QueryDatedLaw); ok {
		queryDates = ql.QueryDates
	}
	var ahead []catalog.Date
	for _, d := range policy.MergeDates(dl.Dates(), queryDates(p.query)) {
		if d.After(p.asOf) && !d.Time.After(limit) {
			ahead = append(ahead, d)
		}
	}
	if len(ahead) == 0 {
		return nil
	}
	slices.SortFunc(ahead, func(a, b catalog.Date) int { return a.Time.Compare(b.Time) })
	// A run longer than the window ends, for this purpose, after it: its
	// length in a time.Duration would overflow (past 292 years) and wrap to
	// an end before the plan's date, and no day would be looked at.
	endTimes := make([]time.Time, len(pl.Placements))
	for i := range pl.Placements {
		h := ends[i]
		if h >= horizonAhead.Hours() || !(h >= 0) {
			endTimes[i] = limit.Add(24 * time.Hour)
		} else {
			endTimes[i] = p.asOf.Time.Add(time.Duration(h * float64(time.Hour)))
		}
	}
	endText := func(i int) string {
		if endTimes[i].After(limit) {
			return "more than three years after " + p.asOf.String()
		}
		return "about " + endTimes[i].UTC().Format("2006-01-02 15:04Z") + " at the job's confidence"
	}
	sessions := make([]Session, len(ahead))
	for i := range pl.Placements {
		if err := p.stopped(); err != nil {
			return err
		}
		pc := &pl.Placements[i]
		site := p.w.Site(pc.Site)
		if site == nil || pc.Pool < 0 || pc.Pool >= len(site.Spec.Pools) {
			continue
		}
		pool := &site.Spec.Pools[pc.Pool]
		acc := p.w.Accelerators[pool.Accelerator]
		for j, d := range ahead {
			if !d.Time.Before(endTimes[i]) {
				break // ahead is sorted: the rest fall after the run
			}
			if sessions[j] == nil {
				q := p.query
				q.AsOf = d
				s, err := p.openSession(q)
				if err != nil {
					return fmt.Errorf("planner: law as of %s: %w", d, err)
				}
				sessions[j] = s
			}
			dec := sessions[j].Evaluate(site, pool, acc)
			if !allowed(dec) {
				d := d
				pc.LawfulUntil = &d
				pc.LawfulUntilRule = policy.EngineRule
				if len(dec.Denials) > 0 {
					pc.LawfulUntilRule = dec.Denials[0].Rule
				}
				break
			}
		}
	}
	// Demote placements that stop being lawful before the run would end.
	short := func(pc *Placement) bool { return pc.LawfulUntil != nil }
	moved := false
	for i := range pl.Placements {
		pc := &pl.Placements[i]
		if short(pc) {
			moved = true
			pc.Advisories = append(slices.Clip(pc.Advisories), policy.Finding{Rule: RuleHorizon, Effect: policy.Advisory,
				Message: fmt.Sprintf("%s: lawful only until %s (rule %s), before the run would end (%s): ranked below placements that stay lawful",
					RuleHorizon, pc.LawfulUntil, pc.LawfulUntilRule, endText(i)),
				Source: "Meridian planner: the rules already loaded and their dates"})
		}
	}
	if e := pl.Explain; e != nil {
		for _, pc := range pl.Placements {
			if pc.Site == e.Site && pc.LawfulUntil != nil {
				e.Horizons = append(e.Horizons, Horizon{Pool: pc.Pool, Accelerator: pc.Accelerator, Count: pc.Count, LawfulUntil: *pc.LawfulUntil, Rule: pc.LawfulUntilRule})
			}
		}
	}
	if moved {
		sort.SliceStable(pl.Placements, func(i, j int) bool { return !short(&pl.Placements[i]) && short(&pl.Placements[j]) })
		for i := range pl.Placements {
			pl.Placements[i].Rank = i + 1
		}
	}
	return nil
}
