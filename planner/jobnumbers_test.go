package planner

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestJobNumbersRejectionCitesTheJob: a pool the estimate refuses for the
// job's own numbers (an overflow from its spec.assumptions, a moeTopK over
// its experts) was rejected citing the site's accelerator line, which
// the tenant cannot change and which is not the cause; it cites the job.
func TestJobNumbersRejectionCitesTheJob(t *testing.T) {
	for name, extra := range map[string]string{
		"overflow": "  assumptions: {maxEfficiency: 1.0e-300, bytesPerParam: 1.0e-300}",
		"moeTopK":  "  assumptions: {moeTopK: 64}",
	} {
		t.Run(name, func(t *testing.T) {
			spec := job(extra)
			if name == "overflow" {
				spec = strings.Replace(spec, "model: {parameters: 1.0e10}", "model: {parameters: 1.0e15}", 1)
				spec = strings.Replace(spec, "tokens: 1.0e11", "tokens: 1.0e16", 1)
			}
			if name == "moeTopK" {
				spec = strings.Replace(spec, "model: {parameters: 1.0e10}", "model: {parameters: 1.0e10, activeParameters: 1.0e9, experts: 8, expertsPerToken: 2}", 1)
			}
			w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)), spec)
			if err := w.Validate(AssumptionKeys()); err != nil {
				t.Fatalf("the loader refuses the job: %v", err)
			}
			p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2026-01-01"), Rules: &tableLaw{}})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Placements) != 0 || len(p.Rejected) != 1 || p.Rejected[0].Kind != KindCapacity {
				t.Fatalf("placements %v, rejected %+v", p.Placements, p.Rejected)
			}
			f := p.Rejected[0].Reasons[0]
			if !strings.Contains(f.Source, "TrainingJob/j spec.assumptions") || strings.Contains(f.Source, "Site/") {
				t.Errorf("source %q does not cite the job's spec.assumptions (%s)", f.Source, f.Message)
			}
		})
	}
}
