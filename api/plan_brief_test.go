package api

import (
	"testing"

	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// TestPlanBrief: briefPlan keeps every finding's rule, effect and code and
// drops its texts, in copies: the planner shares findings between
// candidates, so the slices it returned must not change. (Through serve,
// whose planner explains, TestConsole checks that ?brief=1 plans keep the
// explained site's story whole.)
func TestPlanBrief(t *testing.T) {
	shared := []policy.Finding{
		{Rule: "us-ear-affiliates-2025", Kind: "restricted-party", Effect: policy.Deny, Message: "affiliate-lab is affiliate-of-listed", Source: "FR 2025-19001", Code: "denied"},
		{Rule: "sg-enforcement-2025", Effect: policy.Advisory, Message: "keep the end-user declaration true", Source: "Economic Times"},
	}
	p := &planner.Plan{
		Placements: []planner.Placement{{Site: "a", Obligations: shared[:1], Advisories: shared[1:]}, {Site: "b"}},
		Rejected:   []planner.Rejection{{Site: "c", Kind: planner.KindLaw, Reasons: shared}, {Site: "d", Kind: planner.KindCapacity}},
		Explain:    &planner.Explanation{Site: "c", Steps: []planner.Step{{Check: "law", Findings: shared}}},
	}
	briefPlan(p)
	for _, fs := range [][]policy.Finding{p.Placements[0].Obligations, p.Placements[0].Advisories, p.Rejected[0].Reasons} {
		if len(fs) == 0 {
			t.Fatal("a brief plan lost findings")
		}
		for _, f := range fs {
			if f.Message != "" || f.Source != "" || f.Rule == "" || f.Effect == "" {
				t.Errorf("brief finding %+v", f)
			}
		}
	}
	if p.Rejected[0].Reasons[0].Code != "denied" || len(p.Rejected[0].Reasons) != 2 {
		t.Errorf("brief reasons %+v", p.Rejected[0].Reasons)
	}
	if p.Placements[1].Obligations != nil || p.Rejected[1].Reasons != nil {
		t.Error("brief made findings where there were none")
	}
	for _, f := range shared {
		if f.Message == "" || f.Source == "" {
			t.Errorf("briefPlan emptied the planner's own finding %+v", f)
		}
	}
	if f := p.Explain.Steps[0].Findings[0]; f.Message == "" || f.Source == "" {
		t.Errorf("the explained site's finding lost its text: %+v", f)
	}
}
