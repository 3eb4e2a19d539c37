package planner

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// datedRules deny every site in CN: one rule in force since 2025-03-01 with
// no end, one in force from 2024-01-01 until 2026-01-01.
const datedRules = `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: dated}
rules:
  - id: test-new-cn-ban
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2025-03-01
    enforcement: in-force
    confidence: confirmed
    sources: ["house policy 7"]
    message: no training in {site.country}
    condition: site.country == 'CN'
  - id: test-lapsing-cn-ban
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    effectiveUntil: 2026-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["house policy 3"]
    message: no training in {site.country} until the review
    condition: site.country == 'CN'
`

// TestRejectionCarriesRuleDates: a law rejection names when each denying
// rule became law and, where it has one, when it stops being law, in the
// plan's JSON (both encoders) and in --explain text, so a reader can tell a
// rule that arrived last month from one that lapses next year.
func TestRejectionCarriesRuleDates(t *testing.T) {
	eng, err := policy.New(policy.Options{NoBuiltin: true, Files: []policy.File{{Name: "dated.yaml", Data: []byte(datedRules)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := kindsWorld(t)
	opts := Options{AsOf: catalog.MustDate("2025-06-01"), Rules: PolicyLaw(eng), Explain: "b-law"}
	p := mustMake(t, w, PolicyLaw(eng), &sixND{mfu: 0.5}, opts)

	want := map[string][2]string{
		"test-new-cn-ban":     {"2025-03-01", ""},
		"test-lapsing-cn-ban": {"2024-01-01", "2026-01-01"},
	}
	var fast bytes.Buffer
	if err := p.WriteJSON(&fast); err != nil {
		t.Fatal(err)
	}
	std, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string][]byte{"WriteJSON": fast.Bytes(), "json.Marshal": std} {
		var got struct {
			Rejected []struct {
				Site    string
				Kind    string
				Reasons []map[string]any
			}
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		seen := 0
		for _, r := range got.Rejected {
			if r.Site != "b-law" || r.Kind != string(KindLaw) {
				continue
			}
			for _, f := range r.Reasons {
				id, _ := f["rule"].(string)
				dates, ok := want[id]
				if !ok {
					t.Errorf("%s: unexpected reason %v", name, f)
					continue
				}
				seen++
				from, _ := f["effectiveFrom"].(string)
				until, hasUntil := f["effectiveUntil"].(string)
				if from != dates[0] || until != dates[1] || (dates[1] == "") == hasUntil {
					t.Errorf("%s: %s effectiveFrom %q effectiveUntil %q (present %v), want %q and %q", name, id, from, until, hasUntil, dates[0], dates[1])
				}
			}
		}
		if seen != len(want) {
			t.Errorf("%s: %d dated reasons on b-law's law rejection, want %d:\n%s", name, seen, len(want), out)
		}
	}

	var ex strings.Builder
	if err := WriteExplanation(&ex, p.Explain); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"test-new-cn-ban [deny]",
		"effective from 2025-03-01\n",
		"test-lapsing-cn-ban [deny]",
		"effective from 2024-01-01 until 2026-01-01",
	} {
		if !strings.Contains(ex.String(), line) {
			t.Errorf("--explain text lacks %q:\n%s", line, ex.String())
		}
	}
}
