package planner

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/policy"
)

// outcome is what one feasibility check says about one candidate.
type outcome struct {
	reject []policy.Finding // non-nil rejects the candidate
	detail string           // one line for --explain
	notes  []policy.Finding // findings shown by --explain only
}

func ok(detail string, notes ...policy.Finding) outcome {
	return outcome{detail: detail, notes: notes}
}

func fail(f ...policy.Finding) outcome { return outcome{reject: f, detail: f[0].Message} }

// poolCheck is one predicate on a (site, pool) pair, in the manner of
// Nomad's feasibility checkers. Checks run in order and stop at the first
// rejection, so the cheapest and the job's own choices come first.
type poolCheck struct {
	kind  Kind
	check func(*worker, *candidate) outcome
}

// poolChecks is the chain. Memory comes before law because a chip too
// small for the model makes the law moot; law comes before capacity
// because "unlawful" (never) says more than "full" (not now).
var poolChecks = []poolCheck{
	{KindConstraint, (*worker).checkConstraints},
	{KindAccess, (*worker).checkAccess},
	{KindMemory, (*worker).checkMemory},
	{KindLaw, (*worker).checkLaw},
	{KindCapacity, (*worker).checkCapacity},
}

func (ps *pass) finding(kind Kind, code, source, format string, args ...any) policy.Finding {
	f := policy.Finding{Rule: code, Kind: string(kind), Message: fmt.Sprintf(format, args...), Source: source, Code: policy.CodeNotNow}
	if kind == KindLaw {
		f.Code = policy.CodeUndetermined
	}
	return f
}

// jobSource cites a field of the job: "file:line TrainingJob/name field",
// the line being the field's own (looked up once per plan, jobFields).
func (ps *pass) jobSource(field string) string {
	at, ok := ps.jobAt[field]
	if !ok {
		at = ps.job.Pos.String()
	}
	return fmt.Sprintf("%s TrainingJob/%s %s", at, ps.job.Metadata.Name, field)
}

// jobFields are the fields of the job that rejections cite.
var jobFields = []string{"spec.constraints.sites", "spec.constraints.countries", "spec.constraints.accelerators",
	"spec.constraints.minAccelerators", "spec.budgetUSD", "spec.deadline", "spec.assumptions", "spec.confidence", "spec.tokens"}

// siteField is a key of the site sources cache.
type siteField struct {
	site  *catalog.Site
	field string
}

// siteSource cites a field of a site's pool, at its own line; each (site,
// field) is looked up once per plan, and the lines of every pool of a site
// at once (poolLines).
func (ps *pass) siteSource(c *candidate, field string) string {
	f := fmt.Sprintf("spec.pools[%d].%s", c.index, field)
	k := siteField{c.site, f}
	if v, ok := ps.siteAt.Load(k); ok {
		return v.(string)
	}
	at, ok := ps.poolLines(c.site)[f]
	if !ok {
		at = c.site.Pos.At(f)
	}
	src := fmt.Sprintf("%s Site/%s %s", at, c.site.Metadata.Name, f)
	ps.siteAt.Store(k, src)
	return src
}

// poolFields are the fields of a pool that rejections cite.
var poolFields = []string{"accelerator", "count", "available"}

// sitePoolLines are the lines of a site's pools' fields, found once.
type sitePoolLines struct {
	once sync.Once
	at   map[string]string
}

// poolLines is "file:line" of each of poolFields of each pool of s, from
// one parse of its document: a field's line was found by parsing the
// document again for each pool, so that a site of 8,000 pools full or
// over the budget took 2 minutes to plan.
func (ps *pass) poolLines(s *catalog.Site) map[string]string {
	v, _ := ps.poolAt.LoadOrStore(s, &sitePoolLines{})
	l := v.(*sitePoolLines)
	l.once.Do(func() {
		fields := make([]string, 0, len(s.Spec.Pools)*len(poolFields))
		for i := range s.Spec.Pools {
			for _, f := range poolFields {
				fields = append(fields, fmt.Sprintf("spec.pools[%d].%s", i, f))
			}
		}
		l.at = s.Pos.AtAll(fields)
	})
	return l.at
}

func (ps *pass) siteFieldSource(s *catalog.Site, field string) string {
	k := siteField{s, field}
	if v, ok := ps.siteAt.Load(k); ok {
		return v.(string)
	}
	src := fmt.Sprintf("%s Site/%s %s", s.Pos.At(field), s.Metadata.Name, field)
	ps.siteAt.Store(k, src)
	return src
}

// checkAccess keeps out the sites the organisation cannot use: allocation
// sites it holds no allocation at (unless Options.IncludeAllocation), and
// sites private to others.
func (ps *worker) checkAccess(c *candidate) outcome {
	usable, why := c.site.UsableBy(ps.query.Tenant, ps.spec.Organization, ps.includeAllocation)
	if usable {
		if !ps.tracing(c) {
			return outcome{} // the detail is for --explain only
		}
		return ok("usable by " + ps.spec.Organization + " (access " + c.site.AccessTerms() + ")")
	}
	code := CodeAllocation
	if c.site.AccessTerms() == catalog.AccessPrivate {
		code = CodePrivate
	}
	return fail(ps.finding(KindAccess, code, ps.siteFieldSource(c.site, "spec.access"), "%s", why))
}

// checkConstraints applies the job's own site, country and accelerator lists.
func (ps *worker) checkConstraints(c *candidate) outcome {
	name, cc := c.site.Metadata.Name, c.site.Spec.Country
	var f []policy.Finding
	if !ps.lists.sites.permits(name) {
		f = append(f, ps.finding(KindConstraint, CodeSite, ps.jobSource("spec.constraints.sites"),
			"site %s is not allowed by the job's site list", name))
	}
	if !ps.lists.countries.permitsCountry(cc, ps.w.Countries[cc]) {
		f = append(f, ps.finding(KindConstraint, CodeCountry, ps.jobSource("spec.constraints.countries"),
			"country %s is not allowed by the job's country list", cc))
	}
	if !ps.lists.accelerators.permits(c.pool.Accelerator) {
		f = append(f, ps.finding(KindConstraint, CodeAccelerator, ps.jobSource("spec.constraints.accelerators"),
			"accelerator %s is not allowed by the job's accelerator list", c.pool.Accelerator))
	}
	if m := ps.cons.MinAccelerators; m > c.pool.Count {
		f = append(f, ps.finding(KindConstraint, CodeMinCount, ps.jobSource("spec.constraints.minAccelerators"),
			"the job wants at least %d accelerators; the pool has %d installed", m, c.pool.Count))
	} else if m > estimate.MaxCount {
		f = append(f, ps.finding(KindConstraint, CodeMinCount, ps.jobSource("spec.constraints.minAccelerators"),
			"the job wants at least %s accelerators; estimates cover at most %s", thousands(m), thousands(estimate.MaxCount)))
	}
	if f != nil {
		return fail(f...)
	}
	return ok("site, country, accelerator and pool size allowed by the job")
}

// constraintLists are a pass's site, country and accelerator lists as
// sets, built once per pass. A job document may repeat a name tens of
// thousands of times, and each pool's check scanned every list: against
// 8,000 pools that was 11 seconds a plan.
type constraintLists struct {
	sites, countries, accelerators listSet
}

func newConstraintLists(c catalog.Constraints) constraintLists {
	return constraintLists{newListSet(c.Sites), newListSet(c.Countries), newListSet(c.Accelerators)}
}

// listSet is one AllowDeny as sets.
type listSet struct {
	allow, deny map[string]struct{}
	// limited is true when the allow list has entries: only they pass.
	limited bool
}

func newListSet(ad catalog.AllowDeny) listSet {
	set := func(list []string) map[string]struct{} {
		if len(list) == 0 {
			return nil
		}
		m := make(map[string]struct{}, min(len(list), 1024))
		for _, x := range list {
			m[x] = struct{}{}
		}
		return m
	}
	return listSet{allow: set(ad.Allow), deny: set(ad.Deny), limited: len(ad.Allow) > 0}
}

// permits is AllowDeny.Permits.
func (l *listSet) permits(v string) bool {
	if _, denied := l.deny[v]; denied {
		return false
	}
	_, allowed := l.allow[v]
	return !l.limited || allowed
}

// permitsCountry is permits that also understands the blocs EU and EEA.
func (l *listSet) permitsCountry(iso string, c *catalog.Country) bool {
	in := func(m map[string]struct{}) bool {
		if _, ok := m[iso]; ok {
			return true
		}
		if c == nil {
			return false
		}
		if _, ok := m["EU"]; ok && c.EU {
			return true
		}
		_, ok := m["EEA"]
		return ok && (c.EEA || c.EU)
	}
	if in(l.deny) {
		return false
	}
	return !l.limited || in(l.allow)
}

// countryPermits is AllowDeny.Permits that also understands the blocs EU and EEA.
func countryPermits(ad catalog.AllowDeny, iso string, c *catalog.Country) bool {
	l := newListSet(ad)
	return l.permitsCountry(iso, c)
}

// checkLaw asks the law session once per pool across passes; the session
// caches by class, so identical sites cost one evaluation. A denial without a stated reason still denies.
func (ps *worker) checkLaw(c *candidate) outcome {
	if c.acc == nil {
		return fail(ps.finding(KindLaw, CodeLawUndecided, ps.siteSource(c, "accelerator"),
			"accelerator %s is unknown, so the law cannot be evaluated", c.pool.Accelerator))
	}
	d, done := ps.decisions[c.pool] // read-only while workers run
	if !done {
		d = ps.sess.Evaluate(c.site, c.pool, c.acc)
		ps.out.decided = append(ps.out.decided, c)
	}
	c.decision = d
	var notes []policy.Finding
	if ps.tracing(c) {
		notes = append(append(notes, d.Obligations...), d.Advisories...)
	}
	// A decision that allows but names a denial is denied (failing
	// closed): an embedder's law, or a pack's bug, must not let a
	// candidate through with a rule against it.
	if !allowed(d) {
		if len(d.Denials) == 0 {
			return outcome{reject: []policy.Finding{ps.finding(KindLaw, CodeLawUndecided, unnamedLawSource,
				"the law engine denied class %s without a reason", c.class())}, notes: notes}
		}
		reasons := named(d.Denials)
		if !ps.tracing(c) {
			return outcome{reject: reasons} // the detail is for --explain only
		}
		return outcome{reject: reasons, detail: "denied for class " + c.class(), notes: notes}
	}
	if !ps.tracing(c) {
		return outcome{}
	}
	return ok(fmt.Sprintf("allowed for class %s: %d obligation(s), %d advisory(ies)", c.class(), len(d.Obligations), len(d.Advisories)), notes...)
}

// allowed reports whether d lets a candidate through: it says so and
// names no denial.
func allowed(d policy.Decision) bool { return d.Allowed && len(d.Denials) == 0 }

// unnamedLawSource is the source of a law denial that came without one.
const unnamedLawSource = "Meridian planner: the law denied this without naming a rule or a source"

// named gives every denial a rule and a source, which a rejection reason
// must carry (SCHEMA.md): a law that leaves them out (an embedder's, or a
// pack's bug) still denies, under the planner's own code and source.
func named(denials []policy.Finding) []policy.Finding {
	for i, f := range denials {
		if f.Rule != "" && f.Source != "" {
			continue
		}
		out := slices.Clone(denials)
		for j := i; j < len(out); j++ {
			if out[j].Rule == "" {
				out[j].Rule = CodeLawUndecided
			}
			if out[j].Source == "" {
				out[j].Source = unnamedLawSource
			}
		}
		return out
	}
	return denials
}

// minCountFor is the estimator's memory answer per accelerator, computed
// before the workers start (prepareMinCounts).
func (ps *pass) minCountFor(acc *catalog.Accelerator) int { return ps.minCount[acc.ID] }

// prepareMinCounts asks the estimator once per accelerator in cands.
func (ps *pass) prepareMinCounts(cands []*candidate) {
	for _, c := range cands {
		if c.acc == nil {
			continue
		}
		if _, ok := ps.minCount[c.acc.ID]; !ok {
			ps.minCount[c.acc.ID] = ps.est.MinCount(ps.spec, c.acc)
		}
	}
}

// checkMemory rejects a pool whose accelerators cannot hold the job even
// all together (or as many as the job allows).
func (ps *worker) checkMemory(c *candidate) outcome {
	limit, why := c.pool.Count, "installed"
	if m := ps.cons.MaxAccelerators; m > 0 && m < limit {
		limit, why = m, "the job's maxAccelerators"
	}
	if c.acc == nil {
		return fail(ps.finding(KindMemory, CodeNoFit, ps.siteSource(c, "accelerator"),
			"accelerator %s is unknown, so its memory is unknown", c.pool.Accelerator))
	}
	n := ps.minCountFor(c.acc)
	if n <= 0 || n > limit {
		need := "more than any sensible count"
		if n > 0 {
			need = fmt.Sprintf("at least %d", n)
		}
		return fail(ps.finding(KindMemory, CodeNoFit, ps.siteSource(c, "count"),
			"the model does not fit in memory: needs %s %s, at most %d (%s)", need, c.acc.ID, limit, why))
	}
	c.need = n
	if m := ps.cons.MinAccelerators; m > c.need {
		c.need = m
	}
	if !ps.tracing(c) {
		return outcome{}
	}
	return ok(fmt.Sprintf("fits in memory on %d or more; job needs at least %d", n, c.need))
}

// checkCapacity rejects a pool without enough free accelerators now.
func (ps *worker) checkCapacity(c *candidate) outcome {
	c.max = c.pool.Available
	if m := ps.cons.MaxAccelerators; m > 0 && m < c.max {
		c.max = m
	}
	// A catalog may list more free accelerators than the estimator
	// accepts: the counts beyond it are not tried. Tried, their error
	// rejected the pool after its smaller counts were placed, so a pool
	// was both placed and rejected.
	if c.max > estimate.MaxCount && c.need <= estimate.MaxCount {
		c.max = estimate.MaxCount
	}
	if c.need > c.max {
		return fail(ps.finding(KindCapacity, CodeFree, ps.siteSource(c, "available"),
			"needs %d %s, %d free of %d installed", c.need, c.acc.ID, c.pool.Available, c.pool.Count))
	}
	c.counts = ladder(c.need, c.max)
	if !ps.tracing(c) {
		return outcome{}
	}
	return ok(fmt.Sprintf("%d free of %d; counts %s", c.pool.Available, c.pool.Count, joinInts(c.counts)))
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// sink collects what the count stage finds for a run of candidates. Each
// worker fills its own; they are merged in candidate order, so the plan
// does not depend on scheduling.
type sink struct {
	passed   []*candidate // pools through the pool checks
	decided  []*candidate // pools the law session evaluated
	feasible []option
	rejected []rejected
	total    int
	steps    []Step
	// overBudget is the cheapest candidate the budget rejected and
	// pastDeadline the fastest one the deadline did, each at the job's
	// confidence quantile (the value compared); nil when none.
	overBudget, pastDeadline *Choice
	// estimates caches the estimator's answers by accelerator and count
	// (estimateOne): the worker's own, so it needs no lock.
	estimates map[estimateKey]estimated
}

// keep replaces *best with ch when better says so.
func keep(best **Choice, ch *Choice, better func(a, b *Choice) bool) {
	if ch != nil && (*best == nil || better(ch, *best)) {
		*best = ch
	}
}

// cheaper and faster order choices by cost or time, the other measure,
// then site, accelerator and count: workers' findings are merged in an
// order that depends on how many CPUs the plan ran on, so a tie kept
// whichever came first and two machines reported different choices.
func cheaper(a, b *Choice) bool {
	if a.CostUSD != b.CostUSD {
		return a.CostUSD < b.CostUSD
	}
	if a.Hours != b.Hours {
		return a.Hours < b.Hours
	}
	return choiceKeyLess(a, b)
}

func faster(a, b *Choice) bool {
	if a.Hours != b.Hours {
		return a.Hours < b.Hours
	}
	if a.CostUSD != b.CostUSD {
		return a.CostUSD < b.CostUSD
	}
	return choiceKeyLess(a, b)
}

func choiceKeyLess(a, b *Choice) bool {
	if a.Site != b.Site {
		return a.Site < b.Site
	}
	if a.Accelerator != b.Accelerator {
		return a.Accelerator < b.Accelerator
	}
	return a.Count < b.Count
}

// choiceAt is a candidate at hours and cost, for the summary.
func choiceAt(c *candidate, n int, hours, cost float64) *Choice {
	return &Choice{Site: c.site.Metadata.Name, Country: c.site.Spec.Country, Accelerator: c.pool.Accelerator, Count: n,
		Hours: hundredths(hours), CostUSD: cents(cost)}
}

// rejected is one rejection found by a worker, recorded at the merge.
type rejected struct {
	c        *candidate
	kind     Kind
	findings []policy.Finding
}

func (s *sink) reject(c *candidate, kind Kind, f ...policy.Finding) {
	s.total++
	s.rejected = append(s.rejected, rejected{c, kind, f})
}

func (s *sink) step(c *candidate, count int, check string, passed bool, detail string, findings ...policy.Finding) {
	s.steps = append(s.steps, Step{Pool: c.index, Accelerator: c.pool.Accelerator, Count: count, Check: check, Passed: passed, Detail: detail, Findings: findings})
}

// considerCounts estimates each count of the ladder and applies the
// per-count checks. The deadline and budget must hold at the job's
// one-sided confidence (spec.confidence, default 0.8): the estimate's
// quantile at that level, not its central value. Counts below the first one
// that meets the deadline are not worth considering; when none meets it the
// pool is one deadline rejection. Each remaining count is a candidate, kept
// or rejected for budget. It reads the pass and writes only to out, so
// workers may run it at once on different candidates.
func (ps *pass) considerCounts(c *candidate, out *sink) {
	var fastest option
	var fastestHours float64
	met := false
	tracing := ps.tracing(c)
	conf := ps.spec.ConfidenceOrDefault()
	zConf := estimate.NormalQuantile(conf)
	if !finite(c.moveHours) || !finite(c.moveCost) {
		// A link efficiency or cross-border rate a hair above 0 makes
		// moving the data take forever: +Inf hours passed every check
		// without a deadline, ranked and could not be written as JSON.
		f := ps.finding(KindCapacity, CodeNoEstimate, ps.jobSource("spec.assumptions"),
			"moving the job's data to %s takes %s h and costs $%g, not numbers a plan can hold: check spec.assumptions.%s and %s and the datasets' spec.sizeBytes",
			c.site.Metadata.Name, strconv.FormatFloat(c.moveHours, 'g', 4, 64), c.moveCost, assumeEfficiencyKey, assumeCrossBorderKey)
		if tracing {
			out.step(c, 0, "estimate", false, f.Message)
		}
		out.reject(c, KindCapacity, f)
		return
	}
	for _, n := range c.counts {
		pl, err := ps.estimateOne(c, n, out)
		if err != nil {
			// An error of the job's own numbers cites the job: it cited
			// the pool's accelerator, which the tenant cannot change.
			src := ps.siteSource(c, "accelerator")
			if errors.Is(err, estimate.ErrJobNumbers) || errors.Is(err, errOverflow) {
				src = ps.jobSource(jobNumbersField(ps.spec))
			}
			f := ps.finding(KindCapacity, CodeNoEstimate, src, "cannot estimate %d %s: %v", n, c.acc.ID, err)
			if tracing {
				out.step(c, n, "estimate", false, f.Message)
			}
			out.reject(c, KindCapacity, f)
			return
		}
		if tracing {
			lo, clo := pl.at(intervalLow)
			hi, chi := pl.at(intervalHigh)
			out.step(c, n, "estimate", true, fmt.Sprintf("%s (compute %s + transfer %s), %s (compute %s + data %s); 80 %% interval %s, %s",
				hours(pl.hours), hours(pl.computeHours), hours(c.moveHours), dollars(pl.cost), dollars(pl.computeCost), dollars(c.moveCost),
				hoursInterval(pl.hours, lo, hi), dollars(clo)+"–"+wholeDollars(chi)))
		}
		hoursAt, costAt := pl.at(zConf)
		if !finite(hoursAt) || !finite(costAt) {
			// A wide spread at a high confidence can take a finite
			// estimate past the largest float: no deadline or budget can
			// be judged against it, nor can it be shown.
			f := ps.finding(KindCapacity, CodeNoEstimate, ps.jobSource("spec.confidence"),
				"cannot estimate %d %s at the %s (spec.confidence %g): %s h and $%s are not numbers a plan can hold; check spec.assumptions and the model's size and tokens",
				n, c.acc.ID, percentile(conf), conf, strconv.FormatFloat(hoursAt, 'g', 4, 64), strconv.FormatFloat(costAt, 'g', 4, 64))
			if tracing {
				out.step(c, n, "estimate", false, f.Message)
			}
			out.reject(c, KindCapacity, f)
			continue
		}
		// Written so that a time or cost that is not a number fails the
		// deadline and budget rather than passing them (NaN > limit is false).
		if dl := ps.spec.Deadline; dl > 0 && !(hoursAt <= dl.Hours()) {
			if fastest.c == nil || hoursAt < fastestHours {
				fastest, fastestHours = pl, hoursAt
			}
			if tracing {
				at, deadline := hoursPair(hoursAt, dl.Hours())
				out.step(c, n, string(KindDeadline), false, fmt.Sprintf("%s at the %s of the estimate (spec.confidence %g) is past the deadline of %s",
					at, percentile(conf), conf, deadline))
			}
			continue
		}
		met = true
		if b := ps.spec.BudgetUSD; b > 0 && !(costAt <= b) {
			keep(&out.overBudget, choiceAt(c, n, hoursAt, costAt), cheaper)
			over, budget := dollarPair(costAt, b)
			f := ps.finding(KindBudget, CodeBudget, ps.jobSource("spec.budgetUSD"),
				"%d %s cost %s at the %s of the estimate (spec.confidence %g; central %s), over the budget of %s",
				n, c.acc.ID, over, percentile(conf), conf, dollars(pl.cost), budget)
			if tracing {
				out.step(c, n, string(KindBudget), false, f.Message)
			}
			out.reject(c, KindBudget, f)
			continue
		}
		out.total++
		if tracing {
			out.step(c, n, "placement", true, "feasible")
		}
		out.feasible = append(out.feasible, pl)
	}
	if !met && fastest.c != nil {
		_, costAt := fastest.at(zConf)
		keep(&out.pastDeadline, choiceAt(c, fastest.count, fastestHours, costAt), faster)
		at, deadline := hoursPair(fastestHours, ps.spec.Deadline.Hours())
		out.reject(c, KindDeadline, ps.finding(KindDeadline, CodeDeadline, ps.jobSource("spec.deadline"),
			"fastest is %d %s at %s at the %s of the estimate (spec.confidence %g; central %s = compute %s + transfer %s), past the deadline of %s",
			fastest.count, c.acc.ID, at, percentile(conf), conf, hours(fastest.hours), hours(fastest.computeHours), hours(c.moveHours), deadline))
	}
}

// jobNumbersField is the field an error of the job's numbers cites: its
// spec.assumptions when it sets any (the estimate names which), else its
// spec.tokens, which with the model's size sets the work.
func jobNumbersField(sp *catalog.TrainingJobSpec) string {
	if len(sp.Assumptions) > 0 {
		return "spec.assumptions"
	}
	return "spec.tokens"
}

// percentile names a quantile for messages: 0.8 → "80th percentile".
func percentile(q float64) string {
	p := strconv.FormatFloat(math.Round(q*1e4)/1e2, 'f', -1, 64)
	suffix := "th"
	if !strings.Contains(p, ".") {
		switch n := int(q*100 + 0.5); {
		case n%100 >= 11 && n%100 <= 13:
		case n%10 == 1:
			suffix = "st"
		case n%10 == 2:
			suffix = "nd"
		case n%10 == 3:
			suffix = "rd"
		}
	}
	return p + suffix + " percentile"
}
