package planner

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// builtinLaw is the real policy engine with its built-in packs.
func builtinLaw(t testing.TB) Law {
	t.Helper()
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return PolicyLaw(eng)
}

// goldenCases are the examples planned against the world snapshot in
// testdata/world with the real law engine and estimator.
var goldenCases = []struct {
	name, file, asOf, explain string
}{
	{"qwen-offshore", "../examples/qwen-offshore.yaml", "2025-06-01", "cn-shanghai-1"},
	{"deepseek-domestic", "../examples/deepseek-domestic.yaml", "2025-06-01", "cn-ulanqab-2"},
	{"eu-personal", "../examples/eu-personal.yaml", "2025-06-01", "us-virginia-1"},
	{"us-frontier-eu", "../examples/us-frontier-eu.yaml", "2025-09-01", "us-virginia-1"},
	{"qwen-assessed", "testdata/jobs/qwen-assessed.yaml", "2025-06-01", "my-johor-1"},
}

func TestGoldenPlans(t *testing.T) {
	law := builtinLaw(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := catalog.Load(AssumptionKeys(), "testdata/world/sites", tc.file)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{AsOf: catalog.MustDate(tc.asOf), Rules: law}
			p, err := Make(w, w.Jobs[0], opts)
			if err != nil {
				t.Fatal(err)
			}
			var js bytes.Buffer
			enc := json.NewEncoder(&js)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(p); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".json", js.Bytes())

			var txt bytes.Buffer
			if err := WriteTable(&txt, p, 10); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".txt", txt.Bytes())

			opts.Explain = tc.explain
			pe, err := Make(w, w.Jobs[0], opts)
			if err != nil {
				t.Fatal(err)
			}
			var ex bytes.Buffer
			if err := WriteExplanation(&ex, pe.Explain); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".explain.txt", ex.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./planner -run TestGoldenPlans -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got); review, then go test ./planner -update:\n%s", path, d)
	}
}
