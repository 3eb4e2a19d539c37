package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanFleetTenantFlagNamesWhoseQuota: `plan --fleet --quotas --tenant
// platform` charged a job labelled meridian.dev/tenant: vision to vision's
// quota, so platform's what-if showed a batch fitting in quota platform
// does not have (a run is charged to its submitter's tenant, not to a
// label). Now --tenant names whose quota every job takes from: a job
// labelled for another tenant is refused, naming the job, the label and
// the flag (and the other jobs that differ); jobs labelled for the same
// tenant, or not labelled, take from its quota. --tenant without --quotas,
// ignored before, is refused too.
func TestPlanFleetTenantFlagNamesWhoseQuota(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	if err := os.Mkdir(sites, 0o755); err != nil {
		t.Fatal(err)
	}
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	job := func(name, tenant string) string {
		meta := "metadata: {name: " + name + "}"
		if tenant != "" {
			meta = "metadata: {name: " + name + ", labels: {meridian.dev/tenant: " + tenant + "}}"
		}
		return strings.Replace(planJob, "metadata: {name: small}", meta, 1) + "  constraints: {minAccelerators: 8, maxAccelerators: 8}\n---\n"
	}
	quotas := writePlanFile(t, dir, "quotas.yaml", planQuotas)
	plan := func(jobs string, args ...string) (string, int) {
		t.Helper()
		file := writePlanFile(t, dir, "jobs.yaml", planOrg+jobs)
		out, code, err := runPlanCLI(t, append([]string{"plan", "--fleet", "-f", file, "--catalog", sites, "--as-of", "2025-06-01"}, args...)...)
		if err != nil {
			out += "error: " + err.Error() + "\n"
		}
		return out, code
	}

	// Two of vision's jobs in platform's what-if: refused, naming each.
	out, code := plan(job("p-0", "")+job("v-0", "vision")+job("p-1", "platform")+job("v-1", "vision"), "--quotas", quotas, "--tenant", "platform", "-o", "json")
	for _, want := range []string{`TrainingJob v-0 metadata.labels[meridian.dev/tenant]: "vision", but --tenant platform`, `1 more jobs labelled for another tenant: v-1 metadata.labels[meridian.dev/tenant]: "vision"`} {
		if code != exitBadInput || !strings.Contains(out, want) {
			t.Errorf("platform's plan with vision's jobs: exit %d, want %d, saying %q:\n%s", code, exitBadInput, want, out)
		}
	}

	// Platform's own jobs, labelled or not, take from platform's quota
	// (8 H100s): one placed, two waiting for it.
	out, code = plan(job("p-0", "")+job("p-1", "platform")+job("p-2", ""), "--quotas", quotas, "--tenant", "platform", "-o", "json")
	var res struct {
		Assignments []struct{ Job, Tenant string }
		Waiting     []struct{ Job, Reason, Tenant string }
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &res); code != exitOK || err != nil {
		t.Fatalf("platform's plan of its own jobs: exit %d, %v:\n%s", code, err, out)
	}
	if len(res.Assignments) != 1 || res.Assignments[0].Tenant != "platform" || len(res.Waiting) != 2 {
		t.Errorf("platform's plan of its own jobs: %+v", res)
	}
	for _, w := range res.Waiting {
		if w.Tenant != "platform" || !strings.Contains(w.Reason, "quota of tenant platform") {
			t.Errorf("waiting: %+v", w)
		}
	}

	// Without --tenant, each job takes from its label's tenant, as before.
	if out, code := plan(job("v-0", "vision")+job("p-0", "platform"), "--quotas", quotas); code != exitOK || !strings.Contains(out, "2 placed, 0 waiting") {
		t.Errorf("without --tenant: exit %d:\n%s", code, out)
	}

	// --tenant without --quotas charges nobody: refused, not ignored.
	if out, code := plan(job("v-0", "vision"), "--tenant", "platform"); code != exitBadInput || !strings.Contains(out, "--tenant") || !strings.Contains(out, "--quotas") {
		t.Errorf("--tenant without --quotas: exit %d, want %d:\n%s", code, exitBadInput, out)
	}
}
