package policy

import (
	"strings"
	"testing"
)

// bandCase puts one rule that reads a threshold below, inside and above
// its band: a dataset for each, on a date the rule is in force.
type bandCase struct {
	rule, org, asOf, to  string
	below, inside, above string // datasets; inside is "" when the readings agree
	threshold            string
}

var bandCases = []bandCase{
	// The covered-person clause (access scope) holds though the data
	// stays in the US: staging it for a China-headquartered lab there.
	{rule: "us-doj-dsp-2025", threshold: "dojBulkSensitive", org: "cn-lab", asOf: "2025-07-20", to: "US",
		below: "us-health-500", inside: "us-health", above: "us-health-200k"},
	{rule: "us-doj-dsp-2025", threshold: "dojBulkIdentifiers", org: "cn-lab", asOf: "2025-07-20", to: "SG",
		below: "us-users-50k", above: "us-users-200k"},
	// The country-of-concern clause: a US lab sending the data to China.
	{rule: "us-doj-dsp-2025-destination", threshold: "dojBulkSensitive", org: "us-lab", asOf: "2025-07-20", to: "CN",
		below: "us-health-500", inside: "us-health", above: "us-health-200k"},
	{rule: "us-doj-dsp-2025-destination", threshold: "dojBulkIdentifiers", org: "us-lab", asOf: "2025-07-20", to: "CN",
		below: "us-users-50k", above: "us-users-200k"},
}

// TestThresholdBands: beyond every sourced reading the rule has its
// effect; inside the band it advises, naming the band and its
// confidence; below it does not apply. Every threshold of the built-in
// packs whose confidence is not confirmed has a case, so every rule that
// reads one is tested on all three sides.
func TestThresholdBands(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	covered := map[string]bool{}
	for _, c := range bandCases {
		covered[c.rule+"/"+c.threshold] = true
		th := e.thresholds[c.threshold]
		if th == nil {
			t.Fatalf("no threshold %s", c.threshold)
		}
		if (c.inside != "") != th.IsBand() {
			t.Fatalf("%s: a case inside the band is needed exactly when its readings differ", c.threshold)
		}
		t.Run(c.rule+"/"+c.threshold, func(t *testing.T) {
			eval := func(ds string) Decision {
				return e.EvaluateTransfer(w.query(t, c.asOf, c.org, jobSpec{}, 0), w.datasets[ds], c.to)
			}
			r, _ := e.Rule(c.rule)
			if d := eval(c.below); findRule(d.Denials, c.rule) != nil || findRule(d.Advisories, c.rule) != nil || findRule(d.Obligations, c.rule) != nil {
				t.Errorf("below the band (%s) the rule applies: %+v", c.below, d)
			}
			d := eval(c.above)
			f := findRule(bucket(d, r.Effect), c.rule)
			if f == nil {
				t.Fatalf("above the band (%s) the rule does not have its effect %s: %+v", c.above, r.Effect, d)
			}
			if !strings.Contains(f.Message, "beyond every reading of the threshold") || !strings.Contains(f.Message, th.Readings[0].Source) {
				t.Errorf("above the band the message must name the readings and their sources: %q", f.Message)
			}
			if c.inside == "" {
				return
			}
			d = eval(c.inside)
			if findRule(d.Denials, c.rule) != nil {
				t.Fatalf("inside the band (%s) the rule denies: %+v", c.inside, d.Denials)
			}
			f = findRule(d.Advisories, c.rule)
			if f == nil {
				t.Fatalf("inside the band (%s) the rule does not advise: %+v", c.inside, d)
			}
			if f.Confidence != th.Confidence || !strings.Contains(f.Message, "inside the "+th.Confidence+" band") ||
				!strings.Contains(f.Message, c.threshold+"="+formatNumber(th.Low())) || !strings.Contains(f.Message, c.threshold+"="+formatNumber(th.High())) {
				t.Errorf("inside the band the advisory must name the band and its confidence: %+v", f)
			}
		})
	}
	for _, c := range e.rules {
		for _, th := range c.bands {
			if th.Confidence != Confirmed && !covered[c.ID+"/"+th.Name] {
				t.Errorf("rule %s reads the %s threshold %s but has no below/inside/above case", c.ID, th.Confidence, th.Name)
			}
		}
	}
}

// TestBandsAreGeneral: a user pack's threshold with three readings, read
// by a candidate rule, behaves the same way.
func TestBandsAreGeneral(t *testing.T) {
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: bands}
thresholds:
  - name: tppLine
    confidence: reported
    readings:
      - {value: 4000, source: "reading A"}
      - {value: 5000, source: "reading B"}
      - {value: 20000, source: "reading C"}
rules:
  - id: big-chips
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [house rule]
    message: "{acc.id} has TPP {acc.tpp}, over {threshold.tppLine}"
    condition: acc.tpp >= threshold.tppLine
`
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "bands.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	big := *w.accs["nvidia-h100-sxm"]
	tpp := 36000.0
	big.ID, big.TPP.Value = "test-big-chip", &tpp
	w.accs[big.ID] = &big
	for _, c := range []struct {
		acc  string
		want Effect
	}{{"nvidia-h100-sxm", Advisory}, {"nvidia-h20", ""}, {"test-big-chip", Deny}} {
		site := w.sites["sg-1"]
		pool := site.Spec.Pools[0]
		pool.Accelerator = c.acc
		d := s.Evaluate(site, &pool, w.accs[c.acc])
		var got Effect
		for _, eff := range Effects {
			if findRule(bucket(d, eff), "big-chips") != nil {
				got = eff
			}
		}
		if got != c.want {
			t.Errorf("%s (TPP %v): %q, want %q: %+v", c.acc, w.accs[c.acc].TPP.V(), got, c.want, d)
		}
		if got == Advisory && !strings.Contains(d.Advisories[0].Message, "over 4000 to 20000") {
			t.Errorf("the message shows the band: %q", d.Advisories[0].Message)
		}
	}
}
