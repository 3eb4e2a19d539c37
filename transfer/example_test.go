package transfer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/transfer"
)

// The run controller stages a job's datasets to the chosen site before it
// submits the job, through the same path as `meridian dataset stage`.
func ExampleStager_StageJob() {
	home := os.Getenv("MERIDIAN_HOME")
	w, err := catalog.Load(planner.AssumptionKeys(), "", filepath.Join(home, "datasets"), "sites.yaml", "job.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	law, err := policy.Builtin()
	if err != nil {
		fmt.Println(err)
		return
	}
	job, site := w.Jobs[0], w.Site("my-johor-1")
	// The law is asked as of today, whatever date the query carries.
	q := policy.Query{Countries: w.Countries, Job: job, Org: w.Organizations[job.Spec.Organization]}
	st := &transfer.Stager{
		Law:     law,
		Ledger:  &transfer.FileLedger{Path: filepath.Join(home, "ledger.jsonl")},
		Keys:    dataset.TenantKeyrings{Root: home},
		Workers: 4,
	}
	// Tenant "default"'s datasets land in its own part of the site's store.
	results, err := st.StageJob(context.Background(), job, w.Datasets, site, "default", "t/default/data/", q, "run-42")
	if err != nil {
		fmt.Println(err) // a *transfer.DeniedError names each rule, reason and source
		return
	}
	for _, r := range results {
		fmt.Printf("%s: %d of %d chunks sent\n", r.Dataset, r.ChunksSent, r.Chunks)
	}
}
