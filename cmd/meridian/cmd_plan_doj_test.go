package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanCoveredPersonAtUSSite: a China-headquartered lab training on bulk
// US sensitive personal data at a US site gets the data there, though it
// crosses no border: 28 CFR 202 forbids that, so the plan has no placement
// and says why (the rule, and in --explain its reason); a US lab is placed.
func TestPlanCoveredPersonAtUSSite(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	example, err := os.ReadFile("../../examples/us-health-cn-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cn := writePlanFile(t, dir, "cn.yaml", string(example))
	us := writePlanFile(t, dir, "us.yaml", strings.Replace(string(example), "headquarters: CN", "headquarters: US", 1))

	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "No lawful, feasible placement.\n\n0 of 1 candidates feasible; rejected for law: 1 (1 us-doj-dsp-2025)"},
		{[]string{"--explain", "us-test-1"}, "us-doj-dsp-2025 [deny] dataset us-health (sensitive-personal, 200000 US people) would be accessible to a covered person: lab (headquarters CN"},
		{[]string{"--explain", "us-test-1"}, "counted data from US given to this organisation since 2024-06-01: 200000 sensitive-personal (us-health of lab: 200000 sensitive-personal, this plan)"},
	} {
		out, code, err := runPlanCLI(t, append([]string{"plan", "-f", cn, "--catalog", sites, "--as-of", "2025-06-01"}, c.args...)...)
		if code != exitNoPlacement {
			t.Fatalf("%v: exit %d, want %d (no placement); err %v\n%s", c.args, code, exitNoPlacement, err, out)
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("%v: output lacks %q:\n%s", c.args, c.want, out)
		}
	}

	out, code, err := runPlanCLI(t, "plan", "-f", us, "--catalog", sites, "--as-of", "2025-06-01")
	if code != exitOK || !strings.Contains(out, "us-test-1") || strings.Contains(out, "us-doj-dsp-2025") {
		t.Fatalf("a US lab: exit %d, err %v\n%s", code, err, out)
	}
}
