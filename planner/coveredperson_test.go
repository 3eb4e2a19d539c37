package planner

import (
	"os"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// coveredPersonJob is examples/us-health-cn-lab.yaml with the lab
// headquartered in hq.
func coveredPersonJob(t *testing.T, hq string) string {
	t.Helper()
	b, err := os.ReadFile("../examples/us-health-cn-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), "headquarters: CN", "headquarters: "+hq, 1)
}

// TestCoveredPersonHasNoPlacement: 28 CFR 202 forbids giving a covered
// person access to bulk US sensitive personal data. The lab that runs the
// job gets the data wherever it is placed, so a China-headquartered lab
// has no placement at all, in the US (where the data does not move) as
// abroad, and each US site's rejection names the rule; a US lab is placed
// in the US.
func TestCoveredPersonHasNoPlacement(t *testing.T) {
	for _, hq := range []string{"CN", "US"} {
		set, err := catalog.Decode("job.yaml", []byte(coveredPersonJob(t, hq)))
		if err != nil {
			t.Fatal(err)
		}
		w, err := catalog.Assemble(AssumptionKeys(), nil, set)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2025-06-01")})
		if err != nil {
			t.Fatal(err)
		}
		us := 0
		for _, pl := range p.Placements {
			if pl.Country == "US" {
				us++
			}
		}
		if hq == "US" {
			if us == 0 {
				t.Errorf("a US lab has no US placement (%d placements)", len(p.Placements))
			}
			continue
		}
		if len(p.Placements) != 0 {
			t.Errorf("a China-headquartered lab is placed: %+v", p.Placements[0])
		}
		denied := 0
		for _, rj := range p.Rejected {
			if rj.Country != "US" || rj.Kind != KindLaw {
				continue
			}
			for _, f := range rj.Reasons {
				if f.Rule == "us-doj-dsp-2025" && strings.Contains(f.Message, "covered person") {
					denied++
				}
			}
		}
		if denied == 0 {
			t.Errorf("no US site's rejection names us-doj-dsp-2025: %+v", p.Summary)
		}
	}
}
