package fleet

import (
	"fmt"
	"testing"
)

// quotaBoundProblem is an admission batch that cannot all be placed: jobs
// runs of one tenant, each lawful at every one of pools pools with room,
// and a quota one run short of them all.
func quotaBoundProblem(jobs, pools int) *Problem {
	p := &Problem{Capacity: make([]int, pools+1)}
	for r := range pools {
		p.Capacity[r] = 64
	}
	quota := pools
	p.Capacity[quota] = 8 * (jobs - 1)
	for j := range jobs {
		job := Job{Name: fmt.Sprintf("run-%d", j)}
		for r := range pools {
			job.Options = append(job.Options, Option{Uses: []int{r, quota}, Count: 8, Cost: float64(100 + (j*7+r*13)%97), Ref: r})
		}
		p.Jobs = append(p.Jobs, job)
	}
	return p
}

// BenchmarkAssignOverQuota is Assign on an admission batch of ExactJobs
// runs that its tenant's quota cannot hold all of, at 10 to 2,000 pools
// each run may take.
func BenchmarkAssignOverQuota(b *testing.B) {
	for _, pools := range []int{10, 200, 2000} {
		b.Run(fmt.Sprintf("jobs=%d/pools=%d", ExactJobs, pools), func(b *testing.B) {
			p := quotaBoundProblem(ExactJobs, pools)
			var sol *Solution
			for b.Loop() {
				var err error
				if sol, err = Assign(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(sol.Waiting), "waiting")
		})
	}
}
