package run

import (
	"fmt"
	"strings"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// Skipped is a placement ranked above the one a run took, and why it was
// passed over.
type Skipped struct {
	Rank   int    `json:"rank"`
	Site   string `json:"site"`
	Reason string `json:"reason"`
}

// bestRunnable returns the best of placements (in rank order) a run can
// start at: the first whose site has a configured backend, its position
// from 1, and the placements before it with why each was skipped. ok is
// false when no placement is runnable.
func bestRunnable(placements []planner.Placement) (pl planner.Placement, rank int, skipped []Skipped, ok bool) {
	for i, p := range placements {
		if p.Runnable {
			return p, i + 1, skipped, true
		}
		skipped = append(skipped, Skipped{Rank: i + 1, Site: p.Site, Reason: "no configured backend: a site for planning only"})
	}
	return planner.Placement{}, 0, skipped, false
}

// skippedLine says in one line which placements a run passed over: "skipped
// ranks 1–3 (bsc-marenostrum5, cscs-alps, idris-jean-zay): no configured
// backend: a site for planning only". Sites past the first five are counted.
func skippedLine(skipped []Skipped) string {
	if len(skipped) == 0 {
		return ""
	}
	byReason := map[string][]Skipped{}
	var reasons []string
	for _, s := range skipped {
		if _, seen := byReason[s.Reason]; !seen {
			reasons = append(reasons, s.Reason)
		}
		byReason[s.Reason] = append(byReason[s.Reason], s)
	}
	parts := make([]string, 0, len(reasons))
	for _, r := range reasons {
		ss := byReason[r]
		names := make([]string, 0, 5)
		for i, s := range ss {
			if i == 5 {
				names = append(names, fmt.Sprintf("%d more", len(ss)-5))
				break
			}
			names = append(names, s.Site)
		}
		ranks := fmt.Sprintf("rank %d", ss[0].Rank)
		if len(ss) > 1 {
			ranks = fmt.Sprintf("ranks %d–%d", ss[0].Rank, ss[len(ss)-1].Rank)
		}
		parts = append(parts, fmt.Sprintf("%s (%s): %s", ranks, strings.Join(names, ", "), r))
	}
	return "skipped " + strings.Join(parts, "; ")
}

// runnableRejection says why the plan's first rejected candidate at a
// runnable site was rejected ("; at runnable site S: KIND: message"), or
// "" when none was: what a submitter needs to read when every placement
// is at a site for planning only.
func runnableRejection(plan *planner.Plan, w *catalog.World) string {
	for _, rj := range plan.Rejected {
		if s := w.Site(rj.Site); s == nil || !s.Runnable() || len(rj.Reasons) == 0 {
			continue
		}
		f := rj.Reasons[0]
		rule := ""
		if f.Rule != "" {
			rule = " by " + f.Rule
		}
		return fmt.Sprintf("; at runnable site %s: %s%s: %s", rj.Site, rj.Kind, rule, f.Message)
	}
	return ""
}
