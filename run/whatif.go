package run

import (
	"context"
	"errors"
	"fmt"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// WhatIfRun is what a proposed law would do to one live run.
type WhatIfRun struct {
	Run     string `json:"run"`
	Tenant  string `json:"tenant"`
	Job     string `json:"job"`
	State   State  `json:"state"`
	Site    string `json:"site,omitempty"`
	Country string `json:"country,omitempty"`
	// Outcome is lawful, lawful-until (a proposed rule ends it on
	// LawfulUntil), unlawful (it would leave now), held (no lawful place),
	// released (a held run would be placed) or fails (it would have to
	// move, but its attempts used up its budget or deadline). A move's
	// NewCostUSD and NewHours are of the work its checkpoint leaves.
	Outcome     string `json:"outcome"`
	Rule        string `json:"rule,omitempty"`
	Reason      string `json:"reason,omitempty"`
	LawfulUntil string `json:"lawfulUntil,omitempty"`
	// Affected is true when the outcome differs from the law in force.
	Affected      bool    `json:"affected"`
	MoveTo        string  `json:"moveTo,omitempty"`
	MoveToCountry string  `json:"moveToCountry,omitempty"`
	CostUSD       float64 `json:"costUSD,omitempty"`
	NewCostUSD    float64 `json:"newCostUSD,omitempty"`
	Hours         float64 `json:"hours,omitempty"`
	NewHours      float64 `json:"newHours,omitempty"`
}

// WhatIfCopy is a staged copy a proposed law would remove: a dataset's
// (Kind empty), or a run's checkpoint a move copied to the site (Kind
// "checkpoint": Dataset is then the checkpoint's name, and Run its run).
// Kind is left out for a dataset's copy, as the ledger's entries leave it
// out, so that a reader written before checkpoints were listed reads a
// dataset's copy as it did.
type WhatIfCopy struct {
	Tenant  string `json:"tenant"`
	Kind    string `json:"kind,omitempty"`
	Dataset string `json:"dataset"`
	Run     string `json:"run,omitempty"`
	Site    string `json:"site"`
	Rule    string `json:"rule"`
	Reason  string `json:"reason"`
}

// WhatIfReport is what a proposed law would do to the live runs and staged
// data.
type WhatIfReport struct {
	AsOf     string       `json:"asOf"`
	Runs     []WhatIfRun  `json:"runs"`
	Copies   []WhatIfCopy `json:"copies"`
	Affected int          `json:"affected"`
}

// WhatIf asks a proposed law (with plan, a planner under it) about every run
// that is not finished and every staged copy, as of asOf, changing nothing.
func (c *Controller) WhatIf(ctx context.Context, proposed LawNow, plan Planner, asOf catalog.Date) (*WhatIfReport, error) {
	cur := c.lawNow()
	proposed.Exports = c.exports()
	rep := &WhatIfReport{AsOf: asOf.String(), Runs: []WhatIfRun{}, Copies: []WhatIfCopy{}}
	// The runs are read a page at a time (eachActive): the report keeps
	// what it says of each, not its documents.
	if err := c.eachActive(ctx, func(rows []*store.Run) error {
		for _, row := range rows {
			r, err := fromRow(row)
			if err != nil {
				// Not judged, and named as such, as the law check does.
				rep.Runs = append(rep.Runs, WhatIfRun{Run: row.ID, Tenant: row.Tenant, Job: row.Job, State: State(row.State), Outcome: "undetermined",
					Reason: "the run's stored record does not read", Affected: true})
				rep.Affected++
				continue
			}
			wr, err := c.whatIfRun(ctx, r, cur, proposed, plan, asOf)
			if err != nil {
				wr = WhatIfRun{Run: r.ID, Tenant: r.Tenant, Job: r.Job, State: r.State, Outcome: "undetermined", Reason: err.Error(), Affected: true}
			}
			if wr.Affected {
				rep.Affected++
			}
			rep.Runs = append(rep.Runs, wr)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	copies, err := c.stagedCopies(ctx)
	if err != nil {
		return nil, err
	}
	for _, cp := range copies {
		dec, _, _, _, ok, err := c.copyDecision(ctx, cp, proposed, asOf)
		if err != nil {
			return nil, err
		}
		if ok && !dec.Allowed && hasCode(dec, policy.CodeDenied) {
			rules, reason := withdrawalWhy(dec)
			rule := ""
			if len(rules) > 0 {
				rule = rules[0]
			}
			rep.Copies = append(rep.Copies, WhatIfCopy{Tenant: cp.tenant, Kind: cp.kind, Dataset: cp.dataset, Run: cp.run, Site: cp.site, Rule: rule, Reason: reason})
			rep.Affected++
		}
	}
	return rep, nil
}

func (c *Controller) whatIfRun(ctx context.Context, r *Run, cur, proposed LawNow, plan Planner, asOf catalog.Date) (WhatIfRun, error) {
	wr := WhatIfRun{Run: r.ID, Tenant: r.Tenant, Job: r.Job, State: r.State, Site: r.Site, Country: r.Placement.Country,
		CostUSD: r.Placement.CostUSD, Hours: r.Placement.Hours}
	w, job, err := c.worldJob(r)
	if err != nil {
		return wr, err
	}
	outcome := func(ln LawNow) (string, string, string, error) {
		if r.State == Held || r.Site == "" {
			return "held", "", "", nil
		}
		dec, err := placementLaw(w, job, w.Site(r.Site), r.Placement.Pool, asOf, ln.Law, ln.Exports)
		if err != nil {
			return "", "", "", err
		}
		if !dec.Allowed {
			return "unlawful", firstRule(dec), "", nil
		}
		d, rule, err := horizon(w, job, w.Site(r.Site), r.Placement.Pool, asOf, ln)
		if err != nil || d.IsZero() {
			return "lawful", "", "", err
		}
		return "lawful-until", rule, d.String(), nil
	}
	before, _, beforeUntil, err := outcome(cur)
	if err != nil {
		return wr, err
	}
	after, rule, until, err := outcome(proposed)
	if err != nil {
		return wr, err
	}
	wr.Outcome, wr.Rule, wr.LawfulUntil = after, rule, until
	wr.Affected = before != after || beforeUntil != until
	if after == "unlawful" || after == "held" {
		// As the controller would: the move plans what the run's attempts
		// left (work, budget, deadline), and a run that used up its budget
		// or deadline fails rather than moves, under either law.
		left, note, err := remaining(job, r, c.cfg.Now(), doneShare(r))
		var spent *spentError
		if errors.As(err, &spent) {
			wr.Outcome, wr.Reason = "fails", leftErr(r, err)
			wr.Affected = before == "lawful" || before == "lawful-until"
			return wr, nil
		}
		if err != nil {
			return wr, err
		}
		excluded, err := c.excludedConfirmed(ctx, r)
		if err != nil {
			return wr, err
		}
		p, err := plan(c.planCtx(ctx), w, left, asOf, excluded)
		if err != nil {
			return wr, err
		}
		best, _, _, runnable := bestRunnable(p.Placements)
		if !runnable {
			reason, _, hr := holdReason(p, asOf, proposed.Rev)
			if after == "unlawful" {
				wr.Outcome, wr.Reason = "held", reason
				if wr.Rule == "" {
					wr.Rule = hr
				}
			}
			return wr, nil
		}
		if after == "held" && best.Site == "" {
			return wr, nil
		}
		wr.MoveTo, wr.MoveToCountry, wr.NewCostUSD, wr.NewHours = best.Site, best.Country, best.CostUSD, best.Hours
		wr.Reason = leftNote(wr.Reason, note)
		if after == "held" {
			wr.Outcome, wr.Affected = "released", before != "released"
		}
	}
	return wr, nil
}

// copyLaw asks ln whether a staged copy may stay at its site on asOf,
// returning the copy's dataset and site; ok is false when the copy cannot
// be judged (its dataset is not registered with the server, or its site is
// gone).
func (c *Controller) copyLaw(ctx context.Context, cp stagedCopy, ln LawNow, asOf catalog.Date) (policy.Decision, *catalog.Dataset, *catalog.Site, bool, error) {
	if ln.Transfer == nil {
		return policy.Decision{}, nil, nil, false, nil
	}
	reg, err := c.registry(ctx, cp.tenant)
	if err != nil {
		return policy.Decision{}, nil, nil, false, fmt.Errorf("tenant %s's registered resources: %w", cp.tenant, err)
	}
	ds := reg.datasets[cp.dataset]
	if ds == nil {
		return policy.Decision{}, nil, nil, false, nil
	}
	cs, err := c.catalog()
	if err != nil {
		return policy.Decision{}, nil, nil, false, err
	}
	set := &catalog.Set{Datasets: []*catalog.Dataset{ds}}
	for _, n := range sortedKeys(reg.orgs) {
		set.Organizations = append(set.Organizations, reg.orgs[n])
	}
	w, err := catalog.Assemble(nil, cs, set)
	if err != nil {
		return policy.Decision{}, nil, nil, false, nil
	}
	w.Tenant = catalog.TenantOr(cp.tenant)
	site := w.Site(cp.site)
	if site == nil {
		return policy.Decision{}, nil, nil, false, nil
	}
	q := policy.Query{AsOf: asOf, Tenant: w.Tenant, Countries: w.Countries, Organizations: w.Organizations, Datasets: []*catalog.Dataset{ds}, Sites: map[string]*catalog.Site{}, Exports: ln.Exports}
	for _, s := range w.Sites {
		q.Sites[s.Metadata.Name] = s
	}
	q.Org = w.Organizations[cp.org]
	probe := newExportsProbe(ln.Exports)
	q.Exports = probe.exports()
	dec := ln.Transfer.EvaluateTransfer(q, ds, site.Spec.Country)
	if err := probe.failed(); err != nil {
		// Not judged (a denial would withdraw the copy on a store's
		// passing error): the check fails and is tried again.
		return policy.Decision{}, nil, nil, false, &storeReadError{fmt.Errorf("transfer ledger: %w", err)}
	}
	return dec, ds, site, true, nil
}
