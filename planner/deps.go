package planner

import (
	"context"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/policy"
)

// Law opens one evaluation session per plan. The policy package's engine
// satisfies it through LawFunc.
type Law interface {
	// Session fixes what stays the same across the candidates of one plan
	// (date, organisation, job, datasets). It fails when the rules cannot
	// be evaluated; the planner then fails closed.
	Session(q policy.Query) (Session, error)
}

// ContextLaw is a Law whose sessions stop with a context: once it is
// done, an evaluation in progress is interrupted and every candidate not
// yet judged is denied (failing closed). The planner opens its sessions
// with Options.Context through it when the law has it.
type ContextLaw interface {
	Law
	SessionContext(ctx context.Context, q policy.Query) (Session, error)
}

// Session says whether one site and pool is lawful for the query it was
// opened with. Evaluate must be safe to call many times with the same
// arguments and return the same Decision; it may cache by class.
type Session interface {
	Evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) policy.Decision
}

// PolicyLaw adapts the policy engine to Law. It also tells the planner the
// days on which the engine's law changes (DatedLaw), so that placements
// get their horizon.
func PolicyLaw(e *policy.Engine) Law { return engineLaw{e} }

type engineLaw struct{ e *policy.Engine }

func (l engineLaw) Session(q policy.Query) (Session, error) {
	s, err := l.e.Session(q)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (l engineLaw) SessionContext(ctx context.Context, q policy.Query) (Session, error) {
	s, err := l.e.SessionContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (l engineLaw) Dates() []catalog.Date { return l.e.Dates() }

// QueryDates is the engine's QueryDates (QueryDatedLaw).
func (l engineLaw) QueryDates(q policy.Query) []catalog.Date { return l.e.QueryDates(q) }

// DatedLaw is a Law that knows the days on which it changes: a rule starts
// or ends, or its enforcement changes. The planner gives each placement the
// first of those days on which it stops being lawful.
type DatedLaw interface {
	Law
	Dates() []catalog.Date
}

// QueryDatedLaw is a DatedLaw that also knows which of a query's own days
// (policy.QueryDates: licences ending, adequacy lapsing) can change its
// answers (policy.Engine.QueryDates). The planner looks at those days only;
// with a law that does not say, at every one of them.
type QueryDatedLaw interface {
	QueryDates(q policy.Query) []catalog.Date
}

// SnapshotLaw is a Law that changes while the program runs: a server's law
// in force, which a rules revision replaces. Snapshot returns the law as it
// stands now, fixed. Make takes one snapshot per plan and opens every
// session from it (one per worker, opened as work reaches them, and one per
// horizon day), so that one plan never judges some pools under one revision
// and the rest, or its horizon, under the next.
type SnapshotLaw interface {
	Law
	Snapshot() Law
}

// LawFunc adapts a function to Law.
type LawFunc func(q policy.Query) (Session, error)

// Session calls f.
func (f LawFunc) Session(q policy.Query) (Session, error) { return f(q) }

// Estimator answers the planner's questions about time, cost and memory.
// The estimate package's functions are the default (see Options.Estimator).
type Estimator interface {
	// Estimate is the time and cost of the job on in.Count accelerators.
	// It must be deterministic, and its cost the accelerator-hours times
	// in.PricePerHour (or a price the job sets itself): the planner asks
	// once per accelerator and count, without a price, and prices each
	// pool from AcceleratorHours.
	Estimate(in estimate.Input) (estimate.Result, error)
	// MinCount is the smallest count whose memory holds the job, 0 when none does.
	MinCount(job *catalog.TrainingJobSpec, acc *catalog.Accelerator) int
	// TrainingFLOPs is the job's total model FLOPs.
	TrainingFLOPs(job *catalog.TrainingJobSpec) float64
}

// packageEstimator is the estimate package behind the Estimator interface.
type packageEstimator struct{}

func (packageEstimator) Estimate(in estimate.Input) (estimate.Result, error) {
	return estimate.Estimate(in)
}

func (packageEstimator) MinCount(job *catalog.TrainingJobSpec, acc *catalog.Accelerator) int {
	return estimate.MinCount(job, acc)
}

func (packageEstimator) TrainingFLOPs(job *catalog.TrainingJobSpec) float64 {
	return estimate.TrainingFLOPs(job)
}
