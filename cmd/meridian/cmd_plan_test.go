package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runPlanCLI runs the meridian command in process and returns stdout and the
// exit code main would use.
func runPlanCLI(t *testing.T, args ...string) (string, int, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	code := exitOK
	if err != nil {
		code = exitError
		var ce *codeError
		if errors.As(err, &ce) {
			code = ce.code
		}
	}
	return out.String(), code, err
}

func writePlanFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const planOrg = `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: US}
---
`

const planJob = `apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: small}
spec:
  organization: lab
  model: {parameters: 1.0e9}
  method: full-finetune
  tokens: 1.0e9
`

const planSite = `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: us-test-1}
spec:
  country: US
  location: {lat: 39, lon: -77}
  operator: {name: op, headquarters: US}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 64, available: %AVAIL%, pricePerHour: 2.5}
  network: {egressPerGB: 0.09, gbps: 100}
`

func TestPlanExitCodes(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	badSites := filepath.Join(dir, "bad-sites")
	os.Mkdir(badSites, 0o755)
	writePlanFile(t, badSites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "65", 1))
	ok := writePlanFile(t, dir, "ok.yaml", planOrg+planJob)
	none := writePlanFile(t, dir, "none.yaml", planOrg+planJob+"  constraints: {countries: {allow: [CN]}}\n")
	noData := writePlanFile(t, dir, "nodata.yaml", planOrg+planJob+"  datasets: [ghost]\n")
	noOrg := writePlanFile(t, dir, "noorg.yaml", planJob)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // substrings of output or error
	}{
		{"placement", []string{"plan", "-f", ok, "--catalog", sites, "--as-of", "2025-06-01"}, exitOK,
			[]string{"us-test-1", "candidates feasible"}},
		{"none", []string{"plan", "-f", none, "--catalog", sites, "--as-of", "2025-06-01"}, exitNoPlacement,
			[]string{"No lawful, feasible placement", "constraint: 1"}},
		{"missing dataset", []string{"plan", "-f", noData, "--catalog", sites}, exitBadInput,
			[]string{"nodata.yaml", "spec.datasets[0]", "ghost"}},
		{"missing organization", []string{"plan", "-f", noOrg, "--catalog", sites}, exitBadInput,
			[]string{"noorg.yaml", "spec.organization"}},
		{"available over count", []string{"plan", "-f", ok, "--catalog", badSites}, exitBadInput,
			[]string{"site.yaml", "spec.pools[0].available", "65 is more than the 64 installed"}},
		{"bad date", []string{"plan", "-f", ok, "--catalog", sites, "--as-of", "June"}, exitBadInput, []string{"--as-of"}},
		{"bad output", []string{"plan", "-f", ok, "--catalog", sites, "-o", "xml"}, exitBadInput, []string{"-o"}},
		{"unknown explain site", []string{"plan", "-f", ok, "--catalog", sites, "--explain", "nowhere"}, exitBadInput, []string{"nowhere"}},
		{"unknown job", []string{"plan", "-f", ok, "--catalog", sites, "--job", "other"}, exitBadInput, []string{"other", "small"}},
		{"no files", []string{"plan"}, exitBadInput, []string{"-f"}},
		{"user rules deny", []string{"plan", "-f", ok, "--catalog", sites, "--as-of", "2025-06-01", "--rules", filepath.Join("..", "..", "examples", "rules")},
			exitNoPlacement, []string{"law: 1 (1 org-train-only-in-eea)"}},
		{"bad rules dir", []string{"plan", "-f", ok, "--catalog", sites, "--rules", filepath.Join(dir, "nowhere")}, exitBadInput, []string{"--rules"}},
		{"plot format", []string{"plan", "-f", ok, "--catalog", sites, "--plot", "plan.pdf"}, exitBadInput, []string{"--plot", ".svg or .png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code, err := runPlanCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; err %v\n%s", code, tc.code, err, out)
			}
			text := out
			if err != nil {
				text += err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestPlanJSONDeterministicAndPlot(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	ok := writePlanFile(t, dir, "ok.yaml", planOrg+planJob)
	svg := filepath.Join(dir, "plan.svg")
	var first string
	for i := 0; i < 3; i++ {
		out, code, err := runPlanCLI(t, "plan", "-f", ok, "--catalog", sites, "--as-of", "2025-06-01", "-o", "json", "--plot", svg)
		if code != exitOK {
			t.Fatalf("exit %d: %v", code, err)
		}
		if i == 0 {
			first = out
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			for _, k := range []string{"job", "asOf", "placements", "rejected", "summary"} {
				if _, ok := v[k]; !ok {
					t.Errorf("JSON lacks %q", k)
				}
			}
		} else if out != first {
			t.Fatalf("run %d differs from the first", i)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"<svg", "Pareto front", "chosen: us-test-1"} {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("plot lacks %q", w)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".plan.svg.tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestPlanExplain(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	ok := writePlanFile(t, dir, "ok.yaml", planOrg+planJob)
	out, code, err := runPlanCLI(t, "plan", "-f", ok, "--catalog", sites, "--as-of", "2025-06-01", "--explain", "us-test-1")
	if code != exitOK {
		t.Fatalf("exit %d: %v", code, err)
	}
	for _, w := range []string{"Site us-test-1 (US)", "pool 0: nvidia-h100-sxm", "law", "memory", "capacity", "estimate", "placement"} {
		if !strings.Contains(out, w) {
			t.Errorf("explanation lacks %q:\n%s", w, out)
		}
	}
}
