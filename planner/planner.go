package planner

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/policy"
)

// Options tune one planning call.
type Options struct {
	AsOf catalog.Date
	// Context is the request the plan answers (nil: none). Once it is
	// done (the client went away, the deadline passed), Make stops
	// between candidates and returns its error, never a plan: a ranking
	// of the candidates judged so far would look complete, and the rest
	// of the work is wasted on nobody. The law sessions are opened with it
	// too (ContextLaw), so an evaluation in progress stops and denies.
	Context context.Context
	// ExcludeSites are never considered (a lost site during recovery).
	ExcludeSites []string
	// Rules is the law engine; nil means the policy package's built-in
	// packs. If the engine cannot be built or opened, Make fails (closed).
	Rules Law
	// Estimator answers time, cost and memory questions; nil means the
	// estimate package.
	Estimator Estimator
	// Explain names a site whose whole story (every pool, count, check and
	// rule) is recorded in Plan.Explain.
	Explain string
	// Points fills Plan.All with every feasible candidate, for plots.
	Points bool
	// IncludeAllocation counts allocation sites (national and research
	// centres) in as if the organisation could apply for time there;
	// otherwise only those naming it in spec.accessOrganizations are.
	IncludeAllocation bool
	// Timings, when not nil, receives how long each stage took (for
	// benchmarks and plan --timings); a second pass adds to it.
	Timings *Timings
	// Exports is the transfer ledger the law's volume rules count (what
	// the organisation and its group exported before): a server's. When
	// nil, the ledger WithLedger attached to Context is counted; with
	// neither (the CLI's offline plan) only the job's own datasets count,
	// and the decisions say so. A ledger that cannot be read fails the
	// plan (ErrLedgerUnread) rather than rank placements its rules did not
	// judge.
	Exports policy.Exports
}

// Timings is the time Make spent in each stage.
type Timings struct {
	// Feasibility is stage 1 and 2: candidates, and each pool through the
	// constraint, memory, law and capacity checks (mostly law).
	Feasibility time.Duration
	// Estimate is stage 3: each count estimated and checked against the
	// deadline and the budget.
	Estimate time.Duration
	// Rank is stages 4 and 5: the objective, the Pareto front, and the
	// placements and rejections assembled.
	Rank time.Duration
}

// DataMove is one dataset travelling to the chosen site.
type DataMove struct {
	Dataset string  `json:"dataset"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	Bytes   float64 `json:"bytes"`
	Basis   string  `json:"basis,omitempty"`
	// FromSite is the site the dataset is stored at; empty when only its
	// country is known.
	FromSite string `json:"fromSite,omitempty"`
	ToSite   string `json:"toSite"`
	// Gbps is the throughput the transfer time assumes: the narrower of
	// the sites' links and, across a border, the cross-border link's.
	Gbps    float64 `json:"gbps,omitempty"`
	CostUSD float64 `json:"costUSD"`
	Hours   float64 `json:"hours"`
}

// Placement is one lawful, feasible way to run the job (SCHEMA.md plan -o json).
type Placement struct {
	Rank             int     `json:"rank"`
	Site             string  `json:"site"`
	Country          string  `json:"country"`
	Accelerator      string  `json:"accelerator"`
	Count            int     `json:"count"`
	Hours            float64 `json:"hours"`
	AcceleratorHours float64 `json:"acceleratorHours"`
	CostUSD          float64 `json:"costUSD"`
	ComputeCostUSD   float64 `json:"computeCostUSD"`
	DataCostUSD      float64 `json:"dataCostUSD"`
	// HoursLow … CostHighUSD bound the central 80 % interval (10th to 90th
	// percentile) of Hours and CostUSD; the data moves count as certain.
	HoursLow    float64 `json:"hoursLow"`
	HoursHigh   float64 `json:"hoursHigh"`
	CostLowUSD  float64 `json:"costLowUSD"`
	CostHighUSD float64 `json:"costHighUSD"`
	// DataMoves may be shared with the other placements of the site:
	// read it, never write to it.
	DataMoves   []DataMove       `json:"dataMoves"`
	Obligations []policy.Finding `json:"obligations"`
	Advisories  []policy.Finding `json:"advisories"`

	// ComputeHours is the training time; Hours adds the data transfer time.
	ComputeHours  float64 `json:"computeHours"`
	TransferHours float64 `json:"transferHours"`
	PricePerHour  float64 `json:"pricePerHour"`
	// Pool is the index of the pool in the site's spec.pools.
	Pool int `json:"pool"`
	// Pareto is true when no other feasible placement is both cheaper and faster.
	Pareto bool `json:"pareto"`
	// LawfulUntil is the first UTC day, before the run's estimated end, on
	// which the placement is no longer lawful under the rules already loaded
	// (null: none ends it during the run), and LawfulUntilRule the rule that
	// ends it. Such placements are ranked below those that stay lawful.
	LawfulUntil     *catalog.Date `json:"lawfulUntil"`
	LawfulUntilRule string        `json:"lawfulUntilRule,omitempty"`
	// Class is the law class of the placement: country, operator
	// headquarters and accelerator (law is the same within a class).
	Class string `json:"class"`
	// Runnable is false for a site with no configured backend: plans rank
	// it, runs never start there (SCHEMA.md).
	Runnable bool `json:"runnable"`
	// NotionalPrice marks a price nobody pays: an allocation site's time
	// priced at an estimate of its worth, not rented.
	NotionalPrice bool `json:"notionalPrice,omitempty"`
}

// Rejection is one group of candidates that lost, with why: one per site ×
// accelerator × kind.
type Rejection struct {
	Site        string           `json:"site"`
	Country     string           `json:"country"`
	Accelerator string           `json:"accelerator"`
	Kind        Kind             `json:"kind"`
	Reasons     []policy.Finding `json:"reasons"`
	// Resolution is unresolvable for law and not-now for the other kinds.
	Resolution Resolution `json:"resolution"`
	// Candidates is how many (pool, count) candidates this group holds.
	Candidates int `json:"candidates"`
}

// Summary counts candidates and rejections by kind.
type Summary struct {
	Candidates     int            `json:"candidates"`
	Placements     int            `json:"placements"`
	RejectedByKind map[string]int `json:"rejectedByKind"`

	// Feasible counts every feasible (site, pool, count); Placements keeps
	// the best count of each pool. ParetoFront counts the feasible
	// candidates no other beats on both cost and time.
	Feasible    int    `json:"feasible"`
	ParetoFront int    `json:"paretoFront"`
	Objective   string `json:"objective"`
	// RejectedByRule counts law-rejected candidates by denying rule.
	RejectedByRule map[string]int `json:"rejectedByRule"`
	// CostOfSovereignty is set when the job limits countries or accelerators.
	CostOfSovereignty *Sovereignty `json:"costOfSovereignty,omitempty"`
	// CheapestOverBudget is the cheapest candidate the budget ruled out,
	// and FastestPastDeadline the fastest one the deadline did, each at the
	// job's confidence quantile (what was compared): what it would take.
	CheapestOverBudget  *Choice `json:"cheapestOverBudget,omitempty"`
	FastestPastDeadline *Choice `json:"fastestPastDeadline,omitempty"`
}

// Plan is the planner's answer (SCHEMA.md plan -o json).
type Plan struct {
	Job        string      `json:"job"`
	AsOf       string      `json:"asOf"`
	Placements []Placement `json:"placements"`
	Rejected   []Rejection `json:"rejected"`
	Summary    Summary     `json:"summary"`

	// Assumptions the planner made beyond the catalog (data movement defaults).
	Assumptions []string `json:"assumptions"`
	// Explain is the whole story of Options.Explain's site.
	Explain *Explanation `json:"explain,omitempty"`
	// All is every feasible candidate, ranked, for plots (Options.Points); not printed.
	All []Point `json:"-"`
}

// Make plans job against the world: candidates → feasibility → estimate →
// rank → plan. It fails when the job's organisation or datasets are
// missing, the law engine cannot open a session, or Options.Explain names
// an unknown site.
func Make(w *catalog.World, job *catalog.TrainingJob, opts Options) (*Plan, error) {
	p, err := newPlanner(w, job, opts)
	if err != nil {
		return nil, err
	}
	if err := p.stopped(); err != nil {
		return nil, err
	}
	spec := &job.Spec
	if spec.Deadline > 0 || spec.BudgetUSD > 0 {
		src := "spec.confidence"
		if spec.Confidence == 0 {
			src = "spec.confidence unset: the default"
		}
		q := spec.ConfidenceOrDefault()
		p.assumptions[fmt.Sprintf("deadline and budget must hold at the %s of the estimate (%s %g); placements show the central estimate and its 80 %% interval", percentile(q), src, q)] = true
	}
	// A second pass (cost of sovereignty) reuses the law's decisions.
	p.keepDecisions = len(sovereigntyOf(spec.Constraints)) > 0
	main := p.pass(spec.Constraints, opts.Explain)
	main.wantPoints = opts.Points
	main.timings = opts.Timings
	pl, err := main.plan()
	if err != nil {
		return nil, err
	}
	if err := p.horizons(pl, main.ends); err != nil {
		return nil, err
	}
	if s := sovereigntyOf(spec.Constraints); len(s) > 0 {
		relaxed := spec.Constraints
		relaxed.Countries, relaxed.Accelerators = catalog.AllowDeny{}, catalog.AllowDeny{}
		free := p.pass(relaxed, "")
		free.timings = opts.Timings
		freePlan, err := free.plan()
		if err != nil {
			return nil, err
		}
		pl.Summary.CostOfSovereignty = costOfSovereignty(s, pl, freePlan)
	}
	pl.Assumptions = append(p.assumptionList(), p.estimateAssumptions(pl)...)
	// A law session whose context ended denies what it had not judged:
	// a plan finished after that would rank only what was judged before.
	if err := p.stopped(); err != nil {
		return nil, err
	}
	// So does a rule that could not read the ledger: its denials are the
	// store's fault, its allowances unfounded.
	if err := p.ledger.failed(job.Metadata.Name); err != nil {
		return nil, err
	}
	return pl, nil
}

// stopped is the plan's context's error, wrapped to say where it
// stopped, or nil while the plan may go on.
func (p *planner) stopped() error {
	if err := p.ctx.Err(); err != nil {
		return fmt.Errorf("planner: plan of TrainingJob/%s stopped: %w", p.job.Metadata.Name, err)
	}
	return nil
}

// openSession opens a law session for q under the plan's context, when
// the law takes one (ContextLaw).
func (p *planner) openSession(q policy.Query) (Session, error) {
	if cl, ok := p.law.(ContextLaw); ok {
		return cl.SessionContext(p.ctx, q)
	}
	return p.law.Session(q)
}

// estimatePrefix begins each of the estimator's assumptions in Plan.Assumptions.
const estimatePrefix = "estimate of rank 1: "

// estimateAssumptions are the estimator's stated assumptions for the
// first placement (the planner asks for none while it estimates thousands).
func (p *planner) estimateAssumptions(pl *Plan) []string {
	if len(pl.Placements) == 0 {
		return nil
	}
	b := pl.Placements[0]
	r, err := p.est.Estimate(estimate.Input{Job: p.spec, Accelerator: p.w.Accelerators[b.Accelerator], Count: b.Count, PricePerHour: b.PricePerHour})
	if err != nil {
		return nil
	}
	out := make([]string, len(r.Assumptions))
	for i, a := range r.Assumptions {
		out[i] = estimatePrefix + a
	}
	return out
}

// planner holds what stays fixed across the passes of one Make call.
type planner struct {
	ctx      context.Context // Options.Context, never nil
	w        *catalog.World
	job      *catalog.TrainingJob
	spec     *catalog.TrainingJobSpec
	asOf     catalog.Date
	datasets []*catalog.Dataset
	sessions []Session // one per worker
	law      Law
	query    policy.Query
	// ledger is the plan's view of Options.Exports (nil without one).
	ledger  *planLedger
	est     Estimator
	exclude map[string]bool

	decisions map[*catalog.Pool]policy.Decision
	// keepDecisions records decisions for a later pass.
	keepDecisions bool
	minCount      map[string]int       // by accelerator id
	moves         map[string]siteMoves // by site name
	assumptions   map[string]bool      // texts for Plan.Assumptions
	assumed       map[string]float64   // values by key

	includeAllocation bool
	// jobAt is "file:line" of each of jobFields; siteAt caches the
	// sources of sites' fields (siteField → string), as workers ask.
	jobAt  map[string]string
	siteAt sync.Map
	// poolAt holds each site's *sitePoolLines (poolLines).
	poolAt sync.Map
	// links caps transfers across borders; borders caches its answers
	// by (from, to) country.
	links   *catalog.Links
	borders map[[2]string]border
}

func newPlanner(w *catalog.World, job *catalog.TrainingJob, opts Options) (*planner, error) {
	if w == nil || job == nil {
		return nil, errors.New("planner: nil world or job")
	}
	if opts.Rules == nil {
		eng, err := policy.Builtin()
		if err != nil {
			return nil, fmt.Errorf("planner: built-in rules: %w", err)
		}
		opts.Rules = PolicyLaw(eng)
	}
	if sl, ok := opts.Rules.(SnapshotLaw); ok {
		opts.Rules = sl.Snapshot()
		if opts.Rules == nil {
			return nil, errors.New("planner: the law in force gave no snapshot")
		}
	}
	res := "TrainingJob/" + job.Metadata.Name
	org := w.Organizations[job.Spec.Organization]
	if org == nil {
		return nil, fmt.Errorf("%s: %s: spec.organization: no Organization named %q", job.Pos, res, job.Spec.Organization)
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	p := &planner{
		ctx: ctx,
		w:   w, job: job, spec: &job.Spec, asOf: opts.AsOf,
		est:         opts.Estimator,
		exclude:     map[string]bool{},
		decisions:   map[*catalog.Pool]policy.Decision{},
		minCount:    map[string]int{},
		moves:       map[string]siteMoves{},
		assumptions: map[string]bool{},
		assumed:     map[string]float64{},

		includeAllocation: opts.IncludeAllocation,
		jobAt:             job.Pos.AtAll(jobFields),
	}
	links, err := catalog.BuiltinLinks()
	if err != nil {
		return nil, fmt.Errorf("planner: %w", err)
	}
	p.links = links
	if p.est == nil {
		p.est = packageEstimator{}
	}
	for i, name := range job.Spec.Datasets {
		d := w.Datasets[name]
		if d == nil {
			return nil, fmt.Errorf("%s: %s: spec.datasets[%d]: no Dataset named %q", job.Pos, res, i, name)
		}
		p.datasets = append(p.datasets, d)
	}
	for _, s := range opts.ExcludeSites {
		p.exclude[s] = true
	}
	if opts.Explain != "" && w.Site(opts.Explain) == nil {
		return nil, fmt.Errorf("explain: no site named %q", opts.Explain)
	}
	// The law judges the whole job's compute when a re-plan plans less
	// (LawFLOPs), and never a NaN, which no threshold is above or below.
	q := policy.Query{
		AsOf:          opts.AsOf,
		Tenant:        w.Tenant,
		Org:           org,
		Job:           job,
		Datasets:      p.datasets,
		TrainingFLOPs: policy.JobFLOPs(p.est.TrainingFLOPs(p.spec), job.Spec.LawFLOPs),
		Countries:     w.Countries,
		// A pool's owner organisation and a dataset's location site are
		// resolved from the world, as when its data is staged.
		Organizations: w.Organizations,
		Sites:         make(map[string]*catalog.Site, len(w.Sites)),
	}
	for _, s := range w.Sites {
		q.Sites[s.Metadata.Name] = s
	}
	// The server's ledger, asked through one batch for the whole plan
	// (newPlanLedger): the log's head is read at its first question.
	ex := opts.Exports
	if ex == nil {
		ex = LedgerOf(ctx)
	}
	if ex != nil {
		p.ledger = newPlanLedger(ex)
		q.Exports = p.ledger
	}
	p.law, p.query = opts.Rules, q
	// One session per worker: a session caches by class and is not shared
	// between goroutines. The first is opened now (its errors are the
	// plan's); the others when a stage has work for them (session).
	p.sessions = make([]Session, runtime.GOMAXPROCS(0))
	sess, err := p.openSession(q)
	if err != nil {
		return nil, fmt.Errorf("planner: open law session: %w", err)
	}
	if sess == nil {
		return nil, errors.New("planner: law engine returned no session")
	}
	p.sessions[0] = sess
	return p, nil
}

// session is worker i's law session, opened on first need. A session that
// cannot be opened, though the first one was with the same query, leaves
// the worker on the first: a policy session is safe for concurrent use.
func (p *planner) session(i int) Session {
	if p.sessions[i] == nil {
		if s, err := p.openSession(p.query); err == nil && s != nil {
			p.sessions[i] = s
		} else {
			p.sessions[i] = p.sessions[0]
		}
	}
	return p.sessions[i]
}

func (p *planner) assumptionList() []string {
	out := make([]string, 0, len(p.assumptions))
	for a := range p.assumptions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// pass is one run of the pipeline under one set of constraints.
type pass struct {
	*planner
	cons       catalog.Constraints
	lists      constraintLists // cons' lists as sets
	explain    string
	wantPoints bool
	timings    *Timings
	trace      *Explanation
	rejected   *rejections
	feasible   []option
	total      int // candidates considered

	overBudget, pastDeadline *Choice // see Summary
	// ends[i] is when placement i's run would end at the job's confidence
	// quantile, in hours from the plan's day (choose).
	ends []float64
}

func (p *planner) pass(cons catalog.Constraints, explain string) *pass {
	ps := &pass{planner: p, cons: cons, lists: newConstraintLists(cons), explain: explain, rejected: newRejections()}
	if explain != "" {
		s := p.w.Site(explain)
		ps.trace = &Explanation{Site: s.Metadata.Name, Country: s.Spec.Country,
			Operator: s.Spec.Operator.Name, OperatorHQ: s.Spec.Operator.Headquarters, Source: s.Pos.String()}
		if p.exclude[explain] {
			ps.trace.Excluded = true
		}
	}
	return ps
}

// plan runs the stages and assembles the Plan. It fails, with no plan,
// once the plan's context is done: the stages stop between candidates,
// and what they left out must not read as rejected or never there.
func (ps *pass) plan() (*Plan, error) {
	t0 := time.Now()
	cands := ps.candidates()      // 1. every (site, pool) not excluded
	pools := ps.checkPools(cands) // 2. constraint, law, memory, capacity
	if err := ps.stopped(); err != nil {
		return nil, err
	}
	t1 := time.Now()
	ps.estimateCounts(pools) // 3. each count: estimate, deadline, budget
	if err := ps.stopped(); err != nil {
		return nil, err
	}
	t2 := time.Now()
	var ranked []option // 4. objective, Pareto front
	if ps.wantPoints {
		rank(ps.feasible, ps.spec.ObjectiveOrDefault())
		ranked = ps.feasible
	} else {
		ranked = bestPerPool(ps.feasible, ps.spec.ObjectiveOrDefault())
	}
	pl := ps.assemble(ranked) // 5. placements, rejections, summary
	if t := ps.timings; t != nil {
		t.Feasibility += t1.Sub(t0)
		t.Estimate += t2.Sub(t1)
		t.Rank += time.Since(t2)
	}
	return pl, nil
}

// assemble builds the Plan from the ranked options (every feasible one, or
// the best of each pool) and the rejections.
func (ps *pass) assemble(ranked []option) *Plan {
	placements, ends := choose(ranked, estimate.NormalQuantile(ps.spec.ConfidenceOrDefault()))
	ps.ends = ends
	rej, byKind, byRule := ps.rejected.list()
	return &Plan{
		Job:        ps.job.Metadata.Name,
		AsOf:       ps.asOf.String(),
		Placements: placements,
		Rejected:   rej,
		Summary: Summary{
			Candidates:     ps.total,
			Placements:     len(placements),
			Feasible:       len(ps.feasible),
			ParetoFront:    paretoCount(ps.feasible),
			Objective:      ps.spec.ObjectiveOrDefault(),
			RejectedByKind: byKind,
			RejectedByRule: byRule,

			CheapestOverBudget:  ps.overBudget,
			FastestPastDeadline: ps.pastDeadline,
		},
		Explain: ps.trace,
		All:     ps.points(),
	}
}
