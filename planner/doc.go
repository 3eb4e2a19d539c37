// Package planner decides where a training job should run. It turns a job
// and the world into a Plan through a visible pipeline of small stages:
//
//	candidates  every (site, pool, count) worth considering (candidates.go)
//	feasibility the job's constraints, law, memory, capacity, deadline and
//	            budget, each failed check recorded as a Rejection (feasible.go)
//	estimate    time, accelerator-hours, compute and data-movement cost (cost.go)
//	rank        the job's objective, ties broken by the other, and the
//	            Pareto front of cost against time (rank.go)
//	plan        placements, grouped rejections and a summary (planner.go)
//
// Rejections are data collected as a side effect, each with a Kind and
// reasons shaped like policy findings. A law rejection is Unresolvable at
// that site on that date; every other kind is NotNow, since capacity, money
// or the job's own choices may change.
//
// The planner depends on the law engine and the estimator through the small
// Law, Session and Estimator interfaces in deps.go, so tests can drive it
// with simple implementations and the command wires the real packages.
package planner
