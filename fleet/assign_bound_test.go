package fleet

import (
	"fmt"
	"strings"
	"testing"
)

// fullPools is jobs of 8 accelerators, each lawful at every one of pools
// pools of 8: more jobs than pools, so that every move after the greedy
// (an ejection, a trade) looks at every waiting job's options for each
// placed job, and finds nothing.
func fullPools(jobs, pools int) *Problem {
	p := &Problem{Capacity: make([]int, pools)}
	for r := range pools {
		p.Capacity[r] = 8
	}
	for j := range jobs {
		job := Job{Name: fmt.Sprintf("job-%d", j)}
		for r := range pools {
			job.Options = append(job.Options, Option{Uses: []int{r}, Count: 8, Cost: float64(100 + (j*7+r*13)%97), Ref: r})
		}
		p.Jobs = append(p.Jobs, job)
	}
	return p
}

// TestHeuristicWorkBounded: the improvement moves and the lower bound
// each stop at their work bound: 800 jobs lawful at 400 full pools took
// the moves 250,000,000 checks (4.5 s), the bound 300 steps over every
// option. The assignment is still valid and places a job in every pool.
func TestHeuristicWorkBounded(t *testing.T) {
	const jobs, pools = 800, 400
	p := fullPools(jobs, pools)
	sol, err := Heuristic(p)
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, sol)
	// A move stops at its next check once the bound is spent: an
	// ejection may look at each option of each holder of a pool first.
	if sol.improved > ImproveWork+pools*pools {
		t.Errorf("the improvement moves made %d checks, want at most %d", sol.improved, ImproveWork+pools*pools)
	}
	if size := jobs*pools + pools + 1; sol.bounded > LowerBoundWork+size {
		t.Errorf("the lower bound looked at %d options, want at most %d", sol.bounded, LowerBoundWork+size)
	}
	if sol.Waiting != jobs-pools {
		t.Errorf("%d waiting, want %d", sol.Waiting, jobs-pools)
	}
	if sol.LowerBound > sol.Objective+1e-6 {
		t.Errorf("lower bound %v above the objective %v", sol.LowerBound, sol.Objective)
	}
}

// TestAssignSizeBounded: a problem of more than MaxJobs jobs, or MaxOptions
// options in all, is refused, naming which: the greedy's time grows as the
// square of the jobs, and every step looks at every option.
func TestAssignSizeBounded(t *testing.T) {
	many := &Problem{Capacity: []int{8}}
	for j := range MaxJobs + 1 {
		many.Jobs = append(many.Jobs, Job{Name: fmt.Sprintf("job-%d", j), Options: []Option{{Uses: []int{0}, Count: 8, Cost: 1}}})
	}
	wide := &Problem{Capacity: []int{8}, Jobs: []Job{{Name: "wide", Options: make([]Option, MaxOptions+1)}}}
	for k := range wide.Jobs[0].Options {
		wide.Jobs[0].Options[k] = Option{Uses: []int{0}, Count: 8, Cost: 1}
	}
	for _, tc := range []struct {
		name string
		p    *Problem
		want string
	}{
		{"jobs", many, fmt.Sprintf("%d jobs: at most %d", MaxJobs+1, MaxJobs)},
		{"options", wide, fmt.Sprintf("%d options of 1 jobs: at most %d", MaxOptions+1, MaxOptions)},
	} {
		if _, err := Assign(tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// BenchmarkHeuristicFullPools is Assign where every move looks furthest
// and finds nothing: jobs lawful at every pool, twice as many as the
// pools, and many jobs at few pools; the last at both MaxJobs and
// MaxOptions.
func BenchmarkHeuristicFullPools(b *testing.B) {
	for _, c := range [][2]int{{400, 200}, {800, 400}, {1600, 600}, {10000, 10}, {10000, 100}} {
		b.Run(fmt.Sprintf("jobs=%d/pools=%d", c[0], c[1]), func(b *testing.B) {
			p := fullPools(c[0], c[1])
			for b.Loop() {
				if _, err := Assign(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
