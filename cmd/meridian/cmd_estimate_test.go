package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateGolden reports whether -update was given. The flag is shared with
// other golden tests of this package, so it is registered only once.
var updateGolden = func() func() bool {
	f := flag.Lookup("update")
	if f == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
		f = flag.Lookup("update")
	}
	return func() bool { return f.Value.String() == "true" }
}()

func runMeridian(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "estimate", name)
	if updateGolden() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/meridian -run Estimate -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestEstimateGolden(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "qwen-offshore.yaml")
	jobs := filepath.Join("testdata", "estimate", "two-jobs.yaml")
	tests := []struct {
		golden string
		args   []string
	}{
		{"qwen-h100-64.table", []string{"estimate", "-f", example, "--accelerator", "nvidia-h100-sxm", "--count", "64"}},
		{"qwen-h100-64.json", []string{"estimate", "-f", example, "--accelerator", "nvidia-h100-sxm", "--count", "64", "--price", "2.4", "-o", "json"}},
		{"moe-site.table", []string{"estimate", "-f", jobs, "--job", "moe-pretrain", "--accelerator", "nvidia-h100-sxm", "--count", "1024", "--site", "test-site-1"}},
		{"moe-site.json", []string{"estimate", "-f", jobs, "--job", "moe-pretrain", "--accelerator", "nvidia-h100-sxm", "--count", "1024", "--site", "test-site-1", "-o", "json"}},
		{"qlora-a100-1.yaml", []string{"estimate", "-f", jobs, "--job", "qlora-70b", "--accelerator", "nvidia-a100-80gb", "--count", "1", "-o", "yaml"}},
		{"qlora-v100-1.table", []string{"estimate", "-f", jobs, "--job", "qlora-70b", "--accelerator", "nvidia-v100", "--count", "1", "--price", "0.5"}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			got, err := runMeridian(t, tc.args...)
			if err != nil {
				t.Fatalf("meridian %s: %v", strings.Join(tc.args, " "), err)
			}
			again, err := runMeridian(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != again {
				t.Fatal("two runs printed different bytes")
			}
			checkGolden(t, tc.golden, got)
		})
	}
}

func TestEstimateBadInput(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "qwen-offshore.yaml")
	jobs := filepath.Join("testdata", "estimate", "two-jobs.yaml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no files", []string{"estimate", "--accelerator", "nvidia-h100-sxm", "--count", "8"}, "-f: give at least one file"},
		{"no accelerator", []string{"estimate", "-f", example, "--count", "8"}, "--accelerator: required"},
		{"unknown accelerator", []string{"estimate", "-f", example, "--accelerator", "nvidia-h1000", "--count", "8"}, `--accelerator "nvidia-h1000": unknown; accepted: `},
		{"zero count", []string{"estimate", "-f", example, "--accelerator", "nvidia-h100-sxm"}, "--count 0"},
		{"site and price", []string{"estimate", "-f", jobs, "--job", "qlora-70b", "--accelerator", "nvidia-h100-sxm", "--count", "8", "--site", "test-site-1", "--price", "1"}, "give one, not both"},
		{"negative price", []string{"estimate", "-f", example, "--accelerator", "nvidia-h100-sxm", "--count", "8", "--price", "-1"}, "--price -1"},
		{"two jobs, none named", []string{"estimate", "-f", jobs, "--accelerator", "nvidia-h100-sxm", "--count", "8"}, "name one of: moe-pretrain, qlora-70b"},
		{"unknown job", []string{"estimate", "-f", jobs, "--job", "nope", "--accelerator", "nvidia-h100-sxm", "--count", "8"}, `--job "nope"`},
		{"unknown site", []string{"estimate", "-f", jobs, "--job", "qlora-70b", "--accelerator", "nvidia-h100-sxm", "--count", "8", "--site", "nowhere"}, `--site "nowhere": unknown`},
		{"site without the pool", []string{"estimate", "-f", jobs, "--job", "qlora-70b", "--accelerator", "nvidia-a100-80gb", "--count", "8", "--site", "test-site-1"}, "has no pool of nvidia-a100-80gb; its pools: nvidia-h100-sxm"},
		{"bad output", []string{"estimate", "-f", example, "--accelerator", "nvidia-h100-sxm", "--count", "8", "-o", "xml"}, `-o "xml"`},
		{"missing file", []string{"estimate", "-f", "testdata/estimate/none.yaml", "--accelerator", "nvidia-h100-sxm", "--count", "8"}, "none.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runMeridian(t, tc.args...)
			if err == nil {
				t.Fatalf("no error; printed:\n%s", out)
			}
			var ce *codeError
			if !errors.As(err, &ce) || ce.code != exitBadInput {
				t.Errorf("error %v: want exit code %d", err, exitBadInput)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("printed output on error:\n%s", out)
			}
		})
	}
}
