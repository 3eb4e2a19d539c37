package planner

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
)

// Data-movement assumptions used when the catalog does not say. A job may
// override each through spec.assumptions under the name given.
const (
	// assumeEgressKey: USD per GB to move data out of a country when the
	// dataset names no site. Default from the AWS us-east-1 internet
	// egress first tier, $0.09/GB (facts: compute.md, network prices, 2026).
	assumeEgressKey     = "dataEgressPerGB"
	defaultEgressPerGB  = 0.09
	assumeEfficiencyKey = "linkEfficiency"
	// assumeCrossBorderKey overrides every cross-border link's throughput
	// (Gbit/s); by default the built-in link table's (catalog links.yaml).
	assumeCrossBorderKey = "crossBorderGbps"
	// defaultLinkEfficiency is the share of a link's nominal rate a bulk
	// transfer achieves (facts: compute.md, worked transfer times, 80 %).
	defaultLinkEfficiency = 0.8
	// assumePriceKey is the estimator's key for a price the job sets
	// itself, in place of every pool's.
	assumePriceKey = "pricePerHour"
)

// plannerKeys are the spec.assumptions keys the planner itself reads.
var plannerKeys = catalog.AssumptionKeys{
	{Name: assumeEgressKey, Doc: "USD per GB to move a dataset out of its country when it names no site (default 0.09, AWS us-east-1 first tier)", Min: 0, Max: 10},
	{Name: assumeEfficiencyKey, Doc: "share of a link's nominal rate a bulk transfer achieves, 0–1 (default 0.8)", Min: 0, Max: 1, MinOpen: true},
	{Name: assumeCrossBorderKey, Doc: "Gbit/s one bulk transfer gets across a border (default: the built-in link table, 5 in general, 0.5 into mainland China)", Min: 0, Max: 100_000, MinOpen: true},
}

// crossBorderKey is plannerKeys' entry for assumeCrossBorderKey.
var crossBorderKey, _ = plannerKeys.Lookup(assumeCrossBorderKey)

// AssumptionKeys returns every spec.assumptions key a plan reads: the
// planner's and the estimator's, with their meanings and ranges. Pass it to
// catalog.Load for jobs that will be planned or estimated.
func AssumptionKeys() catalog.AssumptionKeys {
	keys, err := catalog.MergeAssumptionKeys(plannerKeys, estimate.AssumptionKeys())
	if err != nil {
		panic("planner: " + err.Error()) // a programming error: two readers disagree about one key
	}
	return keys
}

// assume returns the job's value for an assumption or its default, and
// records which was used (once) for Plan.Assumptions.
func (p *planner) assume(key string, def float64, text string) float64 {
	if v, ok := p.assumed[key]; ok {
		return v
	}
	// Zero is a value a job may set (free egress); only a key the job does
	// not give, or a value outside the key's range (the loader refuses one),
	// falls back to the default.
	v, set := p.spec.Assumptions[key]
	if k, known := plannerKeys.Lookup(key); set && known && k.Accepts(v) {
		p.assumptions[fmt.Sprintf("%s = %g (set by the job)", key, v)] = true
	} else {
		v = def
		p.assumptions[fmt.Sprintf("%s = %g: %s (override with spec.assumptions.%s)", key, def, text, key)] = true
	}
	p.assumed[key] = v
	return v
}

// dataMoves sets the data each dataset must move to c's site, with its
// cost and transfer time, computed once per site and shared by its
// candidates (read-only). Datasets share the site's link, so their times
// add up. The legal basis of each move is the candidate's own (its law
// decision's transfers): placement and describeMoves fill it in. A
// candidate copied the site's moves and looked each basis up among its
// transfers, which for a job of 256 datasets was 65,000 comparisons and
// 50 KB for each of the plan's candidates.
func (ps *pass) dataMoves(c *candidate) {
	dst := c.site
	sm, done := ps.moves[dst.Metadata.Name]
	if !done {
		for _, d := range ps.datasets {
			if m, ok := ps.moveOne(d, dst); ok {
				sm.moves = append(sm.moves, m)
				sm.cost += m.CostUSD
				sm.hours += m.Hours
			}
		}
		ps.moves[dst.Metadata.Name] = sm
	}
	c.moves, c.moveCost, c.moveHours = sm.moves, sm.cost, sm.hours
}

// siteMoves are the data moves to one site, and their cost and hours
// together.
type siteMoves struct {
	moves       []DataMove
	cost, hours float64
}

// movesWithBases is a copy of c's data moves, each with the legal basis
// of its transfer in c's law decision (the last one named for its
// dataset), rounded to cents and hundredths of an hour with round.
func movesWithBases(c *candidate, round bool) []DataMove {
	basis := make(map[string]string, len(c.decision.Transfers))
	for _, t := range c.decision.Transfers {
		basis[t.Dataset] = t.Basis
	}
	out := make([]DataMove, len(c.moves))
	for i, m := range c.moves {
		m.Basis = basis[m.Dataset]
		if round {
			m.CostUSD, m.Hours = cents(m.CostUSD), hundredths(m.Hours)
		}
		out[i] = m
	}
	return out
}

// moveOne prices one dataset's trip from where it is stored to dst: bytes ×
// the source's egress price, at the narrower of the two links. A dataset
// stored at dst does not move.
func (p *planner) moveOne(d *catalog.Dataset, dst *catalog.Site) (DataMove, bool) {
	loc := d.Spec.Location
	if loc == "" {
		loc = d.Spec.Origin
	}
	if loc == dst.Metadata.Name || d.Spec.SizeBytes <= 0 {
		return DataMove{}, false
	}
	m := DataMove{Dataset: d.Metadata.Name, From: loc, To: dst.Spec.Country, ToSite: dst.Metadata.Name, Bytes: d.Spec.SizeBytes}
	egress := 0.0
	gbps := dst.Spec.Network.Gbps
	if src := p.w.Site(loc); src != nil {
		m.From, m.FromSite = src.Spec.Country, src.Metadata.Name
		egress = src.Spec.Network.EgressPerGB
		if g := src.Spec.Network.Gbps; g > 0 && (gbps <= 0 || g < gbps) {
			gbps = g
		}
	} else {
		egress = p.assume(assumeEgressKey, defaultEgressPerGB,
			"egress price for a dataset stored in a country rather than a known site (AWS us-east-1 internet egress, first tier)")
	}
	if g, ok := p.crossBorder(m.From, m.To); ok && (gbps <= 0 || g < gbps) {
		gbps = g
	}
	eff := p.assume(assumeEfficiencyKey, defaultLinkEfficiency, "share of link bandwidth a bulk transfer achieves")
	m.CostUSD = d.Spec.SizeBytes / 1e9 * egress
	if gbps > 0 {
		m.Gbps = gbps
		m.Hours = d.Spec.SizeBytes * 8 / (gbps * 1e9 * eff) / 3600
	}
	return m, true
}

// crossBorder is the throughput a transfer from one country to another
// gets at most: the job's crossBorderGbps, or the built-in link table's,
// whose source the plan's assumptions then cite. ok is false within one
// country.
func (p *planner) crossBorder(from, to string) (float64, bool) {
	if from == to || p.links == nil {
		return 0, false
	}
	// Each pair of countries is looked up, and its assumption written,
	// once per plan: a job of 256 datasets against 2,000 sites asked
	// 512,000 times, each formatting the same text (0.25 GB a plan).
	k := [2]string{from, to}
	if b, done := p.borders[k]; done {
		return b.gbps, b.ok
	}
	gbps, ok := p.lookupCrossBorder(from, to)
	if p.borders == nil {
		p.borders = map[[2]string]border{}
	}
	p.borders[k] = border{gbps, ok}
	return gbps, ok
}

// border is a pair of countries' answer of crossBorder.
type border struct {
	gbps float64
	ok   bool
}

// lookupCrossBorder is crossBorder uncached.
func (p *planner) lookupCrossBorder(from, to string) (float64, bool) {
	// A value outside the key's range (the loader refuses one: NaN, +Inf,
	// a denormal) is not the job's: the link table's applies, as in assume.
	if v, set := p.spec.Assumptions[assumeCrossBorderKey]; set && crossBorderKey.Accepts(v) {
		p.assumptions[fmt.Sprintf("%s = %g (set by the job)", assumeCrossBorderKey, v)] = true
		return v, true
	}
	l, ok := p.links.Between(from, to)
	if !ok {
		return 0, false
	}
	where := "across a border"
	switch {
	case l.From != "" && l.From != "*" && l.To != "*":
		where = "from " + l.From + " to " + l.To
	case l.To != "" && l.To != "*":
		where = "into " + l.To
	case l.From != "" && l.From != "*":
		where = "out of " + l.From
	}
	p.assumptions[fmt.Sprintf("a bulk transfer %s gets at most %g Gbit/s (%s; override with spec.assumptions.%s): %s",
		where, l.Gbps, l.Status, assumeCrossBorderKey, l.Source)] = true
	return l.Gbps, true
}

// option is one feasible (site, pool, count) with its estimate, kept
// small because a large world has tens of thousands of them; the data
// moves, their cost and time live on the candidate.
type option struct {
	c                                   *candidate
	count                               int
	hours, computeHours, accHours, cost float64
	computeCost                         float64
	// spread gives the quantiles of the compute time and cost; data moves
	// are taken as certain.
	spread estimate.Spread
	pareto bool
}

// at is the option's hours and cost at the quantile whose standard normal
// quantile is z (estimate.NormalQuantile).
func (o *option) at(z float64) (hours, cost float64) {
	f := o.spread.FactorZ(z)
	return o.computeHours*f + o.c.moveHours, o.computeCost*f + o.c.moveCost
}

// estimateKey is what an estimate depends on within one plan: the job is
// fixed, and the price only scales the cost (Estimator).
type estimateKey struct {
	acc   *catalog.Accelerator
	count int
}

// estimated is an estimate without a price, or its error.
type estimated struct {
	r   estimate.Result
	err error
}

// estimateOne is the estimate stage for one count: compute time and cost
// from the estimator, plus the candidate's data moves. Thousands of pools
// share an accelerator, so the estimator is asked once per accelerator and
// count (in the worker's sink) without a price, and the cost is the
// accelerator-hours times the pool's price, as the estimator would have
// computed it; a price the job sets itself comes back in the estimate.
func (ps *pass) estimateOne(c *candidate, n int, out *sink) (option, error) {
	k := estimateKey{c.acc, n}
	e, ok := out.estimates[k]
	if !ok {
		e.r, e.err = ps.est.Estimate(estimate.Input{Job: ps.spec, Accelerator: c.acc, Count: n, SkipAssumptions: true})
		if out.estimates == nil {
			out.estimates = map[estimateKey]estimated{}
		}
		out.estimates[k] = e
	}
	if e.err != nil {
		return option{}, e.err
	}
	r := &e.r
	// The estimate has no price, so its cost is 0, unless the job sets
	// spec.assumptions.pricePerHour, whose value (0 included) wins over the
	// pool's as it does in `meridian estimate`.
	compute := r.CostUSD
	if _, priced := ps.spec.Assumptions[assumePriceKey]; !priced {
		compute = r.AcceleratorHours * c.pool.PricePerHour
	}
	// A time, cost or spread that is not a finite number would pass the
	// deadline and budget checks (NaN compares false with every limit) and
	// tie with every option in the ranking: the candidate is refused.
	for _, x := range [...]float64{compute, r.Hours, r.AcceleratorHours, r.Spread.Low, r.Spread.High} {
		if !finite(x) {
			return option{}, errOverflow
		}
	}
	o := option{c: c, count: n, hours: r.Hours + c.moveHours, computeHours: r.Hours,
		accHours: r.AcceleratorHours, cost: compute + c.moveCost, computeCost: compute, spread: r.Spread}
	// Data moves add to both; the central 80 % interval is printed for
	// every placement, so it must be a number too.
	hoursLow, costLow := o.at(intervalLow)
	hoursHigh, costHigh := o.at(intervalHigh)
	for _, x := range [...]float64{o.hours, o.cost, hoursLow, costLow, hoursHigh, costHigh} {
		if !finite(x) {
			return option{}, errOverflow
		}
	}
	return o, nil
}

// errOverflow refuses an option whose time, cost or interval is not a
// finite number (estimateOne).
var errOverflow = errors.New("estimate: the numbers overflow; check the model size, tokens and spec.assumptions")

// finite reports whether x is a number, neither NaN nor an infinity, and
// not negative: a time or a cost.
func finite(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }

// The reported interval is the central 80 %: the 10th to the 90th
// percentile of the estimate (SCHEMA.md hoursLow, hoursHigh), here as
// standard normal quantiles.
var (
	intervalLow  = estimate.NormalQuantile(0.1)
	intervalHigh = estimate.NormalQuantile(0.9)
)

// Printed numbers are rounded so that plans read well and stay byte-identical
// across machines whose floating point differs in the last bits.
// From 1e15 on a float64 has no hundredths to round away, and x*100 could
// overflow to +Inf (a finite cost near the largest float would then be
// written as +Inf, which JSON cannot hold): such values are kept as they are.
func cents(x float64) float64 { return hundredths(x) }
func hundredths(x float64) float64 {
	if math.Abs(x) >= 1e15 {
		return x
	}
	return math.Round(x*100) / 100
}

// placement is the public form of an option, rounded to cents and
// hundredths of an hour, with moves its data moves (movesOnce).
func (o *option) placement(rank int, moves []DataMove) Placement {
	c := o.c
	hoursLow, costLow := o.at(intervalLow)
	hoursHigh, costHigh := o.at(intervalHigh)
	return Placement{
		Rank: rank, Site: c.site.Metadata.Name, Country: c.site.Spec.Country, Accelerator: c.pool.Accelerator, Count: o.count,
		Hours: hundredths(o.hours), ComputeHours: hundredths(o.computeHours), TransferHours: hundredths(c.moveHours),
		HoursLow: hundredths(hoursLow), HoursHigh: hundredths(hoursHigh), CostLowUSD: cents(costLow), CostHighUSD: cents(costHigh),
		AcceleratorHours: hundredths(o.accHours),
		CostUSD:          cents(o.cost), ComputeCostUSD: cents(o.computeCost), DataCostUSD: cents(c.moveCost),
		DataMoves:    moves,
		Obligations:  nonNil(c.decision.Obligations),
		Advisories:   nonNil(c.decision.Advisories),
		PricePerHour: c.pool.PricePerHour, Pool: c.index, Class: c.class(), Pareto: o.pareto,
		Runnable: c.site.Runnable(), NotionalPrice: c.site.NotionalPrice(),
	}
}

// describeMoves is one line about a candidate's data moves for --explain.
func describeMoves(c *candidate) string {
	if len(c.moves) == 0 {
		return "no data to move"
	}
	parts := make([]string, len(c.moves))
	for i, m := range movesWithBases(c, false) {
		from := m.From
		if m.FromSite != "" {
			from = m.FromSite + " (" + m.From + ")"
		}
		basis := m.Basis
		if basis == "" {
			basis = "none needed"
		}
		parts[i] = fmt.Sprintf("%s: %s from %s to %s, %s, %s, basis %s", m.Dataset, bytesSI(m.Bytes), from, m.To, dollars(m.CostUSD), hours(m.Hours), basis)
	}
	return strings.Join(parts, "; ")
}
