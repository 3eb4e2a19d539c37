package fleet

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// TestPlanFleetSizeBounded: a fleet of more than MaxJobs jobs, or of more
// than MaxOptions placements in all, is refused before its problem is
// built, saying how to plan it instead: the problem of a million options
// was built, then refused by Assign in words of its own (options, not
// placements).
func TestPlanFleetSizeBounded(t *testing.T) {
	w, err := catalog.Assemble(planner.AssumptionKeys(), nil)
	if err != nil {
		t.Fatal(err)
	}
	site := w.Sites[0]
	many := make([]*planner.Plan, MaxJobs+1)
	for i := range many {
		many[i] = &planner.Plan{Job: fmt.Sprintf("job-%d", i)}
	}
	wide := &planner.Plan{Job: "wide", Placements: make([]planner.Placement, MaxOptions+1)}
	for k := range wide.Placements {
		wide.Placements[k] = planner.Placement{Site: site.Metadata.Name, Pool: 0, Accelerator: site.Spec.Pools[0].Accelerator, Count: 1, CostUSD: 1}
	}
	for _, tc := range []struct {
		name  string
		plans []*planner.Plan
		want  string
	}{
		{"jobs", many, fmt.Sprintf("fleet: %d jobs: at most %d are planned together; plan them in parts", MaxJobs+1, MaxJobs)},
		{"placements", []*planner.Plan{wide}, fmt.Sprintf("fleet: %d lawful placements of 1 jobs: at most %d", MaxOptions+1, MaxOptions)},
	} {
		if _, err := PlanFleet(w, tc.plans); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
