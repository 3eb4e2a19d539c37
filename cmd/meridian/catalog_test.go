package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// runCLI runs the meridian command line in-process and returns what it
// printed on standard output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/meridian -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
	}
}

func TestCatalogGolden(t *testing.T) {
	cases := []struct {
		golden string
		args   []string
	}{
		{"catalog-accelerators.txt", []string{"catalog", "accelerators"}},
		{"catalog-accelerators.json", []string{"catalog", "accelerators", "-o", "json"}},
		{"catalog-accelerator-ascend-910b.txt", []string{"catalog", "accelerators", "huawei-ascend-910b"}},
		{"catalog-accelerator-mlu590.json", []string{"catalog", "accelerators", "cambricon-mlu590", "-o", "json"}},
		{"catalog-sites.txt", []string{"catalog", "sites"}},
		{"catalog-sites-cn.json", []string{"catalog", "sites", "--country", "CN", "-o", "json"}},
		{"catalog-sites-h200.txt", []string{"catalog", "sites", "--accelerator", "nvidia-h200"}},
		{"catalog-site-aws-us-east-1.txt", []string{"catalog", "sites", "aws-us-east-1"}},
		{"catalog-site-my-johor-1.yaml", []string{"catalog", "sites", "my-johor-1", "-o", "yaml"}},
		{"catalog-countries.txt", []string{"catalog", "countries"}},
		{"catalog-countries.json", []string{"catalog", "countries", "-o", "json"}},
		{"catalog-country-gb.txt", []string{"catalog", "countries", "GB"}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			got, err := runCLI(t, c.args...)
			if err != nil {
				t.Fatalf("meridian %s: %v", strings.Join(c.args, " "), err)
			}
			golden(t, c.golden, got)
			// The same input must give byte-identical output.
			again, err := runCLI(t, c.args...)
			if err != nil || again != got {
				t.Errorf("second run differs (err %v)", err)
			}
			if strings.HasSuffix(c.golden, ".json") && !json.Valid([]byte(got)) {
				t.Errorf("output is not valid JSON")
			}
			for i, line := range strings.Split(got, "\n") {
				if strings.TrimRight(line, " \t") != line {
					t.Errorf("line %d has trailing blanks: %q", i+1, line)
					break
				}
			}
		})
	}
}

// TestCatalogJSONRoundTrip reads the JSON list back and checks that it holds
// every accelerator in sorted order, with dates as YYYY-MM-DD.
func TestCatalogJSONRoundTrip(t *testing.T) {
	out, err := runCLI(t, "catalog", "accelerators", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var accs []struct {
		ID         string `json:"id"`
		BF16TFLOPS struct {
			Value *float64 `json:"value"`
		} `json:"bf16TFLOPS"`
	}
	if err := json.Unmarshal([]byte(out), &accs); err != nil {
		t.Fatal(err)
	}
	if len(accs) < 32 {
		t.Fatalf("%d accelerators, want at least 32", len(accs))
	}
	for i := 1; i < len(accs); i++ {
		if accs[i-1].ID >= accs[i].ID {
			t.Errorf("not sorted: %s before %s", accs[i-1].ID, accs[i].ID)
		}
	}
	out, err = runCLI(t, "catalog", "sites", "aws-us-east-1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var site struct {
		Spec struct {
			Pools []struct {
				Acquired string `json:"acquired"`
			} `json:"pools"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &site); err != nil {
		t.Fatal(err)
	}
	for _, p := range site.Spec.Pools {
		if len(p.Acquired) != len("2006-01-02") {
			t.Errorf("acquired %q is not YYYY-MM-DD", p.Acquired)
		}
	}
}

func TestCatalogBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want []string // substrings of the error
	}{
		{[]string{"catalog", "accelerators", "nvidia-h999"}, []string{`"nvidia-h999" is not known`, "nvidia-h100-sxm"}},
		{[]string{"catalog", "sites", "nowhere-1"}, []string{`"nowhere-1" is not known`, "accepted:"}},
		{[]string{"catalog", "sites", "--country", "XX"}, []string{"--country", `"XX"`, "accepted: AD, AE"}},
		{[]string{"catalog", "sites", "--accelerator", "tpu"}, []string{"--accelerator", "google-tpu-v5p"}},
		{[]string{"catalog", "countries", "ZZ"}, []string{`"ZZ" is not known`}},
		{[]string{"catalog", "countries", "-o", "xml"}, []string{"-o", "table, wide, json, yaml"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, err := runCLI(t, c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *codeError
			if !errors.As(err, &ce) || ce.code != exitBadInput {
				t.Errorf("error %v is not bad input (exit 2)", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCatalogSitesWithUserFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(file, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: lab-basement-1}
spec:
  country: DE
  location: {lat: 52.5, lon: 13.4}
  operator: {name: lab, headquarters: DE}
  pools:
    - {accelerator: nvidia-rtx-4090, count: 8, available: 8, pricePerHour: 0.3}
  network: {egressPerGB: 0, gbps: 1}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "catalog", "sites", "--country", "DE", "-f", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "lab-basement-1") || !strings.Contains(out, "aws-eu-central-1") {
		t.Errorf("want the user's site next to the built-in ones:\n%s", out)
	}
	out, err = runCLI(t, "catalog", "sites", "--catalog", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "lab-basement-1") || strings.Contains(out, "aws-eu-central-1") {
		t.Errorf("--catalog should replace the built-in sites:\n%s", out)
	}
}

// TestAtUnknownSiteNamesTheWayOut: a site the catalog here does not have
// (a server's local site, say) is refused naming the flag, and the refusal
// says how to reach its store instead.
func TestAtUnknownSiteNamesTheWayOut(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	_, err := runCLI(t, "dataset", "verify", "demo-text", "--at", "local")
	if err == nil || !strings.Contains(err.Error(), `--at "local"`) || !strings.Contains(err.Error(), "--store") {
		t.Fatalf("dataset verify --at an unknown site: %v, want an error naming --at and --store", err)
	}
}
