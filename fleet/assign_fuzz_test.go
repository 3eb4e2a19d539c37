package fleet

import (
	"math"
	"testing"
)

// problemFrom reads a small problem from fuzz bytes: up to 8 resources
// and 12 jobs of up to 6 options, each using its pool and maybe a quota.
func problemFrom(data []byte) *Problem {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := int(data[0])
		data = data[1:]
		return b
	}
	p := &Problem{Capacity: make([]int, 1+next()%8)}
	for r := range p.Capacity {
		p.Capacity[r] = next() % 40
	}
	jobs := next() % 13
	for j := range jobs {
		job := Job{Name: string(rune('a' + j))}
		for k := range next() % 7 {
			o := Option{Uses: []int{next() % len(p.Capacity)}, Count: 1 + next()%24, Cost: float64(next()) * float64(1+next()%4), Ref: k}
			if q := next() % len(p.Capacity); q != o.Uses[0] && next()%2 == 0 {
				o.Uses = append(o.Uses, q)
			}
			job.Options = append(job.Options, o)
		}
		p.Jobs = append(p.Jobs, job)
	}
	return p
}

// FuzzAssign: on any small problem Assign returns an assignment that gives
// no resource more than it has, whose totals add up, whose lower bound is
// at most its objective, and, where it claims a gap of 0, as good as
// Exact's.
func FuzzAssign(f *testing.F) {
	f.Add([]byte{3, 16, 8, 8, 4, 2, 0, 8, 10, 1, 1, 0, 2, 1, 8, 3, 2, 0, 0})
	f.Add([]byte{7, 39, 0, 12, 5, 30, 8, 8, 9, 12, 6, 1, 23, 200, 3, 1, 0, 6, 2, 17, 99, 1, 4, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := problemFrom(data)
		sol, err := Assign(p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		check(t, p, sol)
		if sol.LowerBound > sol.Objective*(1+1e-9)+1e-9 || math.IsNaN(sol.Gap) || sol.Gap < 0 {
			t.Fatalf("objective %v, lower bound %v, gap %v", sol.Objective, sol.LowerBound, sol.Gap)
		}
		if sol.Gap == 0 {
			ex, err := Exact(p)
			if err != nil {
				t.Fatal(err)
			}
			if sol.Objective > ex.Objective*(1+1e-9)+1e-9 {
				t.Fatalf("gap 0, objective %v, exact %v", sol.Objective, ex.Objective)
			}
		}
	})
}
