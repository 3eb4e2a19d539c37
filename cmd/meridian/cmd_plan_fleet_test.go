package main

import (
	"bytes"
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

// planQuotas: vision may take 16 H100s, platform 8, and speech none (a
// quota names the H100, so a tenant without one may not use it).
const planQuotas = `apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: vision}
spec:
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 16}]
---
apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: platform}
spec:
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 8}]
`

// TestPlanFleetQuotas: five jobs of 8 H100s against a site with 64 free,
// each labelled with its tenant: three of vision's, one of speech's, one
// of platform's. Without quotas all five are placed; with them,
// vision gets two, platform one, and the third of vision's and speech's
// wait, each naming the quota. Bad tenants and quota files are refused
// naming the field.
func TestPlanFleetQuotas(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	job := func(name, tenant string) string {
		meta := "metadata: {name: " + name + "}"
		if tenant != "" {
			meta = "metadata: {name: " + name + ", labels: {meridian.dev/tenant: " + tenant + "}}"
		}
		return strings.Replace(planJob, "metadata: {name: small}", meta, 1) + "  constraints: {minAccelerators: 8, maxAccelerators: 8}\n---\n"
	}
	jobs := planOrg + job("v-0", "vision") + job("v-1", "vision") + job("v-2", "vision") + job("s-0", "speech") + job("p-0", "platform")
	file := writePlanFile(t, dir, "jobs.yaml", jobs)
	quotas := writePlanFile(t, dir, "quotas.yaml", planQuotas)
	type result struct {
		Assignments []struct{ Job, Tenant string }
		Waiting     []struct{ Job, Reason, Tenant string }
	}
	var stderr string
	plan := func(args ...string) result {
		t.Helper()
		root := newRootCmd()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(append([]string{"plan", "--fleet", "-f", file, "--catalog", sites, "--as-of", "2025-06-01", "-o", "json"}, args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
		}
		stderr = errOut.String()
		var res result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := plan(); len(res.Assignments) != 5 || len(res.Waiting) != 0 {
		t.Fatalf("without quotas: %+v", res)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("without quotas, a warning: %s", stderr)
	}
	res := plan("--quotas", quotas)
	// The quotas name only the SXM H100: every other accelerator of the
	// catalog is bounded by capacity alone, and plan says so on stderr
	// (stdout stays JSON), naming each.
	if !strings.Contains(stderr, "warning: no quota names") || !strings.Contains(stderr, "nvidia-h100-pcie") || strings.Contains(stderr, "nvidia-h100-sxm") {
		t.Errorf("quotas naming one accelerator: stderr %q, want a warning naming the others", stderr)
	}
	placed := map[string]int{}
	for _, a := range res.Assignments {
		placed[a.Tenant]++
	}
	if placed["vision"] != 2 || placed["platform"] != 1 || len(res.Assignments) != 3 {
		t.Errorf("placed per tenant: %v", placed)
	}
	waiting := map[string]string{}
	for _, w := range res.Waiting {
		waiting[w.Tenant] = w.Reason
	}
	if r := waiting["vision"]; len(res.Waiting) != 2 || !strings.Contains(r, "quota of tenant vision for family h100") || !strings.Contains(r, "16 of 16 given to other jobs") {
		t.Errorf("waiting: %+v", res.Waiting)
	}
	if r := waiting["speech"]; !strings.Contains(r, "quota of tenant speech for nvidia-h100-sxm (none given)") {
		t.Errorf("speech waits: %q", r)
	}
	// Bad input is refused, naming what is wrong.
	bad := writePlanFile(t, dir, "bad-quotas.yaml", strings.Replace(planQuotas, "nominal: 8", "nominal: -8", 1))
	badJobs := writePlanFile(t, dir, "bad-jobs.yaml", planOrg+job("x", "Not_A_Tenant"))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--fleet", "-f", file, "--quotas", bad}, "Quota/platform) spec.families[0].nominal: -8"},
		{[]string{"--fleet", "-f", file, "--quotas", filepath.Join(dir, "missing.yaml")}, "--quotas"},
		{[]string{"--fleet", "-f", badJobs, "--quotas", quotas}, "TrainingJob x metadata.labels[meridian.dev/tenant]"},
		{[]string{"--fleet", "-f", file, "--quotas", quotas, "--tenant", "A B"}, "--tenant"},
		{[]string{"-f", file, "--quotas", quotas}, "--quotas and --tenant are for plan --fleet"},
	} {
		out, code, err := runPlanCLI(t, append([]string{"plan", "--catalog", sites, "--as-of", "2025-06-01"}, c.args...)...)
		if code != exitBadInput || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: exit %d, %v, want %q\n%s", c.args, code, err, c.want, out)
		}
	}
}
