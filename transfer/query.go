package transfer

import (
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/policy"
)

// Query is what the law needs to judge datasets of w moving on asOf, moved
// for org (nil when none is named): every site and country of w, and its
// organisations, since a group's exports are counted across its members.
// The CLI's staging, the server's staging route and a run's staging all
// ask the law with it, so that they ask the same question.
func Query(w *catalog.World, asOf catalog.Date, org *catalog.Organization, datasets ...*catalog.Dataset) policy.Query {
	q := policy.Query{AsOf: asOf, Tenant: w.Tenant, Org: org, Datasets: datasets, Countries: w.Countries, Organizations: w.Organizations,
		Sites: make(map[string]*catalog.Site, len(w.Sites))}
	for _, s := range w.Sites {
		q.Sites[s.Metadata.Name] = s
	}
	return q
}

// JobQuery is Query for a training job's datasets, moved for its
// organisation. Datasets the job names that w lacks are left out: the
// world's validation refuses such a job before anything is staged.
func JobQuery(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date) policy.Query {
	var ds []*catalog.Dataset
	for _, name := range job.Spec.Datasets {
		if d := w.Datasets[name]; d != nil {
			ds = append(ds, d)
		}
	}
	q := Query(w, asOf, w.Organizations[job.Spec.Organization], ds...)
	q.Job = job
	// The job's compute, as the placement's law sees it (the whole job's
	// when a re-plan plans less): a transfer rule that reads job.flops
	// would otherwise find no fact and deny every staging and checkpoint
	// move of the job, failing closed on a fact the job does give.
	q.TrainingFLOPs = policy.JobFLOPs(estimate.TrainingFLOPs(&job.Spec), job.Spec.LawFLOPs)
	return q
}
