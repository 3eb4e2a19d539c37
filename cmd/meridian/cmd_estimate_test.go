package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestEstimateGolden(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "qwen-offshore.yaml")
	jobs := filepath.Join("testdata", "estimate-two-jobs.yaml")
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
		{"calibration.table", []string{"estimate", "--calibration"}},
		{"calibration.json", []string{"estimate", "--calibration", "-o", "json"}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			got, err := runCLI(t, tc.args...)
			if err != nil {
				t.Fatalf("meridian %s: %v", strings.Join(tc.args, " "), err)
			}
			again, err := runCLI(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != again {
				t.Fatal("two runs printed different bytes")
			}
			golden(t, "estimate-"+tc.golden, got)
		})
	}
}

func TestEstimateBadInput(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "qwen-offshore.yaml")
	jobs := filepath.Join("testdata", "estimate-two-jobs.yaml")
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
		// Bounded as a site's price is: 1e300 gave costs near 1e304.
		{"price past the bound", []string{"estimate", "-f", example, "--accelerator", "nvidia-h100-sxm", "--count", "8", "--price", "1e300"}, "--price 1e+300: want USD per accelerator-hour from 0 to 1000"},
		{"two jobs, none named", []string{"estimate", "-f", jobs, "--accelerator", "nvidia-h100-sxm", "--count", "8"}, "name one of: moe-pretrain, qlora-70b"},
		{"unknown job", []string{"estimate", "-f", jobs, "--job", "nope", "--accelerator", "nvidia-h100-sxm", "--count", "8"}, `--job "nope"`},
		{"unknown site", []string{"estimate", "-f", jobs, "--job", "qlora-70b", "--accelerator", "nvidia-h100-sxm", "--count", "8", "--site", "nowhere"}, `--site "nowhere": unknown`},
		{"site without the pool", []string{"estimate", "-f", jobs, "--job", "qlora-70b", "--accelerator", "nvidia-a100-80gb", "--count", "8", "--site", "test-site-1"}, "has no pool of nvidia-a100-80gb; its pools: nvidia-h100-sxm"},
		{"bad output", []string{"estimate", "-f", example, "--accelerator", "nvidia-h100-sxm", "--count", "8", "-o", "xml"}, `-o "xml"`},
		{"missing file", []string{"estimate", "-f", "testdata/estimate-none.yaml", "--accelerator", "nvidia-h100-sxm", "--count", "8"}, "estimate-none.yaml"},
		{"calibration with a job", []string{"estimate", "--calibration", "-f", example}, "--calibration: takes no -f"},
		{"calibration bad output", []string{"estimate", "--calibration", "-o", "xml"}, `-o "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, tc.args...)
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
