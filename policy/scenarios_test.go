package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

type scenario struct {
	Name string `yaml:"name"`
	// Rules is "" for the built-in packs, "examples" or "provenance" to
	// add examples/rules or examples/provenance-rules.
	Rules    string   `yaml:"rules"`
	AsOf     string   `yaml:"asOf"`
	Org      string   `yaml:"org"`
	Job      jobSpec  `yaml:"job"`
	Flops    float64  `yaml:"flops"`
	Datasets []string `yaml:"datasets"`
	Site     string   `yaml:"site"`
	Pool     int      `yaml:"pool"`
	// Ledger, when present, is what the transfer ledger holds (a plan
	// with a server); without it only the job's datasets count.
	Ledger    []ledgerRow `yaml:"ledger"`
	Screening *Screening  `yaml:"screening"`
	Want      struct {
		Allowed     bool     `yaml:"allowed"`
		Denials     []string `yaml:"denials"`
		Obligations []string `yaml:"obligations"`
		Advisories  []string `yaml:"advisories"`
	} `yaml:"want"`
}

func ids(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// TestScenarios runs the scenario suite: the rule ids in each bucket
// are stated in testdata/scenarios.yaml, and the whole decision (messages,
// sources, transfers) is compared with a golden file.
func TestScenarios(t *testing.T) {
	builtin, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	withExamples, err := New(Options{Dirs: []string{filepath.Join("..", "examples", "rules")}})
	if err != nil {
		t.Fatal(err)
	}
	withProvenance, err := New(Options{Dirs: []string{filepath.Join("..", "examples", "provenance-rules")}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	var scenarios []scenario
	readYAML(t, "testdata/scenarios.yaml", &scenarios)
	if len(scenarios) < 40 {
		t.Fatalf("only %d scenarios read", len(scenarios))
	}
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			e := builtin
			switch sc.Rules {
			case "examples":
				e = withExamples
			case "provenance":
				e = withProvenance
			}
			q := w.query(t, sc.AsOf, sc.Org, sc.Job, sc.Flops, sc.Datasets...)
			if sc.Ledger != nil {
				q.Exports = ledgerRows(sc.Ledger)
			}
			q.Screening = sc.Screening
			s, err := e.Session(q)
			if err != nil {
				t.Fatal(err)
			}
			d := s.Evaluate(w.candidate(t, sc.Site, sc.Pool))
			got := map[string]any{"allowed": d.Allowed, "denials": ids(d.Denials), "obligations": ids(d.Obligations), "advisories": ids(d.Advisories)}
			want := map[string]any{"allowed": sc.Want.Allowed, "denials": sorted(sc.Want.Denials), "obligations": sorted(sc.Want.Obligations), "advisories": sorted(sc.Want.Advisories)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rule ids (-want +got):\n%s", diff)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(d); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "scenarios", sc.Name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want2, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want2), buf.String()); diff != "" {
				t.Errorf("%s differs (-golden +got):\n%s", golden, diff)
			}
		})
	}
}
