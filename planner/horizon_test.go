package planner

import (
	"fmt"
	"math"
	"meridian.dev/meridian/policy"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestHorizonFromSuspendedRule: the affiliates rule is suspended until
// 2026-11-10. For an affiliate of a listed party, placements on US
// accelerators are lawful as of 2026-10-01 but only until that day; a run
// that would end after it is ranked below the placements that stay lawful,
// and a run that ends before it is not touched.
func TestHorizonFromSuspendedRule(t *testing.T) {
	law := builtinLaw(t)
	job := func(tokens string) *catalog.World { return affiliateWorld(t, tokens, "") }
	for _, tc := range []struct {
		name, tokens string
		demoted      bool
	}{
		{"short run: ends before the rule comes back", "1.0e9", false},
		{"long run: would outlast the suspension", "4.0e12", true},
		// Over 292 years of run time overflowed a time.Duration, wrapped
		// to an end before the plan's date, and no day was looked at.
		{"run too long to count in a duration", "1.0e16", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := job(tc.tokens)
			p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2026-10-01"), Rules: law})
			if err != nil {
				t.Fatal(err)
			}
			sawUS, sawOther := false, false
			lastLawful := 0
			for _, pl := range p.Placements {
				acc := w.Accelerators[pl.Accelerator]
				if acc.Origin == "US" {
					sawUS = true
					if !tc.demoted {
						if pl.LawfulUntil != nil {
							t.Errorf("%s %s: lawful until %s, but the run ends before that day", pl.Site, pl.Accelerator, pl.LawfulUntil)
						}
						continue
					}
					if pl.LawfulUntil == nil || pl.LawfulUntil.String() != "2026-11-10" || pl.LawfulUntilRule != "us-ear-affiliates-2025" {
						t.Errorf("%s %s: lawful until %v (%s), want 2026-11-10 (us-ear-affiliates-2025)", pl.Site, pl.Accelerator, pl.LawfulUntil, pl.LawfulUntilRule)
					}
				} else {
					sawOther = true
					if pl.LawfulUntil != nil {
						t.Errorf("%s %s: lawful until %s, want no end", pl.Site, pl.Accelerator, pl.LawfulUntil)
					}
					lastLawful = pl.Rank
				}
				if !tc.demoted && hasRule(pl.Advisories, RuleHorizon) {
					t.Errorf("%s: short run demoted", pl.Site)
				}
			}
			if !sawUS || !sawOther {
				t.Fatalf("want placements on US and other accelerators: %+v", p.Placements)
			}
			demoted := p.Placements[0].LawfulUntil == nil && lastLawful < p.Placements[len(p.Placements)-1].Rank
			firstUS := 0
			for _, pl := range p.Placements {
				if pl.LawfulUntil != nil {
					firstUS = pl.Rank
					break
				}
			}
			if tc.demoted && (!demoted || firstUS <= lastLawful) {
				t.Errorf("long run: a placement that ends before the run was not ranked below the lawful ones")
			}
			var table strings.Builder
			if err := WriteTable(&table, p, 0); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(table.String(), "LAWFUL UNTIL"); got != tc.demoted {
				t.Errorf("table has a LAWFUL UNTIL column: %v, want %v\n%s", got, tc.demoted, table.String())
			}
			if tc.demoted {
				usSite := ""
				for _, pl := range p.Placements {
					if pl.LawfulUntil != nil && !hasRule(pl.Advisories, RuleHorizon) {
						t.Errorf("%s: demoted without saying why", pl.Site)
					}
					if pl.LawfulUntil != nil && usSite == "" {
						usSite = pl.Site
					}
				}
				if !strings.Contains(table.String(), "2026-11-10 (us-ear-affiliates-2025)") {
					t.Errorf("the table does not show the horizon:\n%s", table.String())
				}
				pe, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2026-10-01"), Rules: law, Explain: usSite})
				if err != nil {
					t.Fatal(err)
				}
				var ex strings.Builder
				if err := WriteExplanation(&ex, pe.Explain); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(ex.String(), "lawful only until 2026-11-10 (rule us-ear-affiliates-2025)") {
					t.Errorf("--explain %s does not show the horizon:\n%s", usSite, ex.String())
				}
			}
		})
	}
}

// writeJob writes one multi-document job file into a test directory.
func writeJob(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hasRule says whether any finding came from rule id.
func hasRule(findings []policy.Finding, id string) bool {
	for _, f := range findings {
		if f.Rule == id {
			return true
		}
	}
	return false
}

// TestHorizonAtTheJobsConfidence: a run's horizon is looked for up to the
// end the deadline check takes, the job's confidence quantile of its
// time, not the central estimate: a run that is likely (here 90 %) to be
// still running when a rule ends its placement is demoted and says so,
// and one that ends before the rule even at that quantile is not.
func TestHorizonAtTheJobsConfidence(t *testing.T) {
	law := builtinLaw(t)
	asOf := catalog.MustDate("2026-10-01")
	until := catalog.MustDate("2026-11-10").Time.Sub(asOf.Time).Hours()
	between := 0
	for tokens := 1.0e11; tokens < 4e12; tokens *= 1.15 {
		w := affiliateWorld(t, fmt.Sprintf("%g", tokens), "  confidence: 0.9\n")
		p, err := Make(w, w.Jobs[0], Options{AsOf: asOf, Rules: law})
		if err != nil {
			t.Fatal(err)
		}
		for _, pl := range p.Placements {
			if w.Accelerators[pl.Accelerator].Origin != "US" {
				continue
			}
			// HoursHigh is the 90th percentile, rounded to hundredths:
			// too near the rule's day to tell, the placement says nothing.
			if math.Abs(pl.HoursHigh-until) < 0.02 {
				continue
			}
			if pl.Hours < until && pl.HoursHigh > until {
				between++
			}
			want := pl.HoursHigh > until
			if got := pl.LawfulUntil != nil; got != want {
				t.Errorf("tokens %g, %s %s: %.0f h central, %.0f h at the 90th percentile, rule from hour %.0f: lawful until %v, want a horizon: %v",
					tokens, pl.Site, pl.Accelerator, pl.Hours, pl.HoursHigh, until, pl.LawfulUntil, want)
			}
			if want && !hasRule(pl.Advisories, RuleHorizon) {
				t.Errorf("tokens %g, %s: demoted without saying why", tokens, pl.Site)
			}
		}
	}
	if between == 0 {
		t.Fatal("no placement's central end fell before the rule's day and its 90th percentile after: the test tries nothing")
	}
}

// affiliateWorld loads the test sites with an affiliate of a listed party
// and its 7B pretraining job of the given tokens, extra being more lines of
// the job's spec.
func affiliateWorld(t *testing.T, tokens, extra string) *catalog.World {
	t.Helper()
	w, err := catalog.Load(AssumptionKeys(), "testdata/world/sites", writeJob(t, `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: affiliate-lab}
spec: {headquarters: CN, restrictedParty: affiliate-of-listed}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: long-run}
spec:
  organization: affiliate-lab
  model: {parameters: 7.0e9}
  method: pretrain
  tokens: `+tokens+`
  objective: cost
`+extra+`  constraints: {maxAccelerators: 8}
`))
	if err != nil {
		t.Fatal(err)
	}
	return w
}
