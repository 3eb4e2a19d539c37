package main

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/fleet"
)

// TestPlanFleetJobsBounded: `plan --fleet` refuses files of more than
// fleet.MaxJobs TrainingJobs before it plans any, naming -f and the bound:
// every job was planned (each judging every site) before the assignment
// refused the batch.
func TestPlanFleetJobsBounded(t *testing.T) {
	dir := t.TempDir()
	var jobs strings.Builder
	jobs.WriteString(planOrg)
	for i := range fleet.MaxJobs + 1 {
		fmt.Fprintf(&jobs, "%s---\n", strings.Replace(planJob, "name: small", fmt.Sprintf("name: job-%d", i), 1))
	}
	file := writePlanFile(t, dir, "jobs.yaml", jobs.String())
	out, code, err := runPlanCLI(t, "plan", "--fleet", "-f", file, "--as-of", "2025-06-01")
	want := fmt.Sprintf("-f: the files hold %d TrainingJobs: at most %d are planned together", fleet.MaxJobs+1, fleet.MaxJobs)
	if code != exitBadInput || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("exit %d, %v, want %d and %q\n%.500s", code, err, exitBadInput, want, out)
	}
}
