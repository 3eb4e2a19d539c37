package planner

import "meridian.dev/meridian/catalog"

// Sovereignty is what a job's country or accelerator constraints cost: the
// best lawful placement with them against the best lawful one without.
type Sovereignty struct {
	// Constraints names the relaxed constraints: countries, accelerators.
	Constraints []string `json:"constraints"`
	With        *Choice  `json:"with"`
	Without     *Choice  `json:"without"`
	// ExtraCostUSD and ExtraHours are With minus Without; set only when both exist.
	ExtraCostUSD *float64 `json:"extraCostUSD,omitempty"`
	ExtraHours   *float64 `json:"extraHours,omitempty"`
}

// Choice is the headline of one placement.
type Choice struct {
	Site        string  `json:"site"`
	Country     string  `json:"country"`
	Accelerator string  `json:"accelerator"`
	Count       int     `json:"count"`
	Hours       float64 `json:"hours"`
	CostUSD     float64 `json:"costUSD"`
}

func sovereigntyOf(c catalog.Constraints) []string {
	var s []string
	if !c.Countries.Empty() {
		s = append(s, "countries")
	}
	if !c.Accelerators.Empty() {
		s = append(s, "accelerators")
	}
	return s
}

func best(p *Plan) *Choice {
	if len(p.Placements) == 0 {
		return nil
	}
	b := p.Placements[0]
	return &Choice{Site: b.Site, Country: b.Country, Accelerator: b.Accelerator, Count: b.Count, Hours: b.Hours, CostUSD: b.CostUSD}
}

func costOfSovereignty(constraints []string, with, without *Plan) *Sovereignty {
	s := &Sovereignty{Constraints: constraints, With: best(with), Without: best(without)}
	if s.With != nil && s.Without != nil {
		dc, dh := cents(s.With.CostUSD-s.Without.CostUSD), hundredths(s.With.Hours-s.Without.Hours)
		s.ExtraCostUSD, s.ExtraHours = &dc, &dh
	}
	return s
}
