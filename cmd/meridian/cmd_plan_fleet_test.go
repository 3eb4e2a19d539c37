package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanFleet: five jobs of 8 accelerators each against a cheap site
// with 16 free and a dearer one with 64: two go to the cheap site, three to
// the dear one, no pool is given more than it has, and the JSON carries
// SCHEMA.md's fields.
func TestPlanFleet(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	cheap := strings.NewReplacer("%AVAIL%", "16", "us-test-1", "cheap-1", "2.5}", "1.0}").Replace(planSite)
	dear := strings.Replace(planSite, "%AVAIL%", "64", 1)
	writePlanFile(t, sites, "site.yaml", cheap+"---\n"+dear)
	var jobs strings.Builder
	jobs.WriteString(planOrg)
	for i := range 5 {
		fmt.Fprintf(&jobs, "%s  constraints: {minAccelerators: 8, maxAccelerators: 8}\n---\n", strings.Replace(planJob, "name: small", fmt.Sprintf("name: job-%d", i), 1))
	}
	file := writePlanFile(t, dir, "jobs.yaml", jobs.String())
	out, code, err := runPlanCLI(t, "plan", "--fleet", "-f", file, "--catalog", sites, "--as-of", "2025-06-01", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	var res struct {
		Assignments []struct {
			Job, Site, Accelerator string
			Count                  int
			CostUSD                float64
		}
		Waiting       []struct{ Job, Reason string }
		TotalCostUSD  *float64
		OptimalityGap *float64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.TotalCostUSD == nil || res.OptimalityGap == nil || res.Waiting == nil {
		t.Fatalf("missing fields: %s", out)
	}
	per := map[string]int{}
	total := 0.0
	for _, a := range res.Assignments {
		per[a.Site] += a.Count
		total += a.CostUSD
	}
	if per["cheap-1"] != 16 || per["us-test-1"] != 24 || len(res.Waiting) != 0 {
		t.Errorf("placed %v, waiting %v", per, res.Waiting)
	}
	if *res.OptimalityGap != 0 || total != *res.TotalCostUSD {
		t.Errorf("gap %v, total %v vs %v", *res.OptimalityGap, total, *res.TotalCostUSD)
	}
	// With 8 free at the dear site too, one job waits and says why.
	dear = strings.Replace(planSite, "%AVAIL%", "8", 1)
	writePlanFile(t, sites, "site.yaml", cheap+"---\n"+dear)
	out, code, _ = runPlanCLI(t, "plan", "--fleet", "-f", file, "--catalog", sites, "--as-of", "2025-06-01")
	if code != exitOK || !strings.Contains(out, "3 placed, 2 waiting") || !strings.Contains(out, "given to other jobs") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
