package run

import (
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// dutiesPack is a pack of duties at Singapore's sites: an obligation and
// an advisory in force from day, and an obligation in force since 2020.
func dutiesPack(day string) policy.File {
	rule := func(id, effect, from string) string {
		return `  - id: ` + id + `
    jurisdiction: ORG
    kind: org-policy
    effect: ` + effect + `
    effectiveFrom: ` + from + `
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack of run/lawduties_test.go"]
    message: "site {site.name}: ` + id + `"
    condition: "site.country == 'SG'"
`
	}
	return policy.File{Name: "test-duties.yaml", Data: []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: test-duties}
rules:
` + rule("test-duty-from-eve", "obligation", day) + rule("test-note-from-eve", "advisory", day) + rule("test-duty-always", "obligation", "2020-01-01"))}
}

// findingsOf is the findings of list whose rule is id.
func findingsOf(list []policy.Finding, id string) []policy.Finding {
	var out []policy.Finding
	for _, f := range list {
		if f.Rule == id {
			out = append(out, f)
		}
	}
	return out
}

// TestRunPlacedOnEveCarriesTomorrowsDuties: a rule adds an obligation
// (and another an advisory) at Singapore's sites from 11 June. A run
// placed at alpha (SG) at 11:00 UTC on the 10th, when the 11th has begun
// from UTC+13 eastward and the rule binds there, is judged by the 11th's
// law (its start and staging refuse what the 11th refuses), yet its
// placement carried the 10th's duties alone. It carries the 11th's too,
// each once, noting the day; a duty in force on both days is listed once,
// as it is.
func TestRunPlacedOnEveCarriesTomorrowsDuties(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)}
	_, r := earthFixture(t, clk, dutiesPack("2026-06-11"))
	if r.Site != "alpha" {
		t.Fatalf("placed at %s, want alpha (SG)", r.Site)
	}
	p := r.Placement
	duty := findingsOf(p.Obligations, "test-duty-from-eve")
	if len(duty) != 1 {
		t.Fatalf("obligations %+v: want test-duty-from-eve, in force from the 11th, listed once", p.Obligations)
	}
	if !strings.Contains(duty[0].Message, "2026-06-11 already in some time zone") {
		t.Errorf("obligation %q does not name its day, 2026-06-11", duty[0].Message)
	}
	if note := findingsOf(p.Advisories, "test-note-from-eve"); len(note) != 1 || !strings.Contains(note[0].Message, "2026-06-11") {
		t.Errorf("advisories %+v: want test-note-from-eve once, naming 2026-06-11", p.Advisories)
	}
	always := findingsOf(p.Obligations, "test-duty-always")
	if len(always) != 1 || strings.Contains(always[0].Message, "time zone") {
		t.Errorf("obligations %+v: want test-duty-always, in force on both days, once and as the UTC day gives it", p.Obligations)
	}
}

// TestRunPlacedBeforeTheEveLacksTomorrowsDuties: the same rules, a run
// placed at 09:00 UTC on the 10th, when the 11th has begun nowhere: its
// placement carries the 10th's duties alone.
func TestRunPlacedBeforeTheEveLacksTomorrowsDuties(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC)}
	_, r := earthFixture(t, clk, dutiesPack("2026-06-11"))
	if r.Site != "alpha" {
		t.Fatalf("placed at %s, want alpha (SG)", r.Site)
	}
	if d := findingsOf(r.Placement.Obligations, "test-duty-from-eve"); len(d) != 0 {
		t.Errorf("obligations %+v: test-duty-from-eve is in force nowhere yet", r.Placement.Obligations)
	}
	if d := findingsOf(r.Placement.Obligations, "test-duty-always"); len(d) != 1 {
		t.Errorf("obligations %+v: want test-duty-always once", r.Placement.Obligations)
	}
}

// TestMergeDutiesLeavesTheUTCDaysListAlone: the other days' duties are
// added once each, after the UTC day's, each noting its day (a duty of
// yesterday still in force west of UTC, one of tomorrow begun east of
// it), and the UTC day's own list is never written to.
func TestMergeDutiesLeavesTheUTCDaysListAlone(t *testing.T) {
	own := make([]policy.Finding, 1, 4)
	own[0] = policy.Finding{Rule: "a", Message: "a"}
	others := []dayDecision{
		{day: catalog.MustDate("2026-06-09"), dec: policy.Decision{Allowed: true, Obligations: []policy.Finding{{Rule: "b", Message: "b"}, {Rule: "a", Message: "a"}}}},
		{day: catalog.MustDate("2026-06-11"), dec: policy.Decision{Allowed: true, Obligations: []policy.Finding{{Rule: "b", Message: "b"}, {Rule: "c", Message: "c"}}}},
	}
	got := mergeDuties(policy.Decision{Allowed: true, Obligations: own}, others, catalog.MustDate("2026-06-10"))
	var rules []string
	for _, f := range got.Obligations {
		rules = append(rules, f.Rule+":"+f.Message)
	}
	want := "a:a|b:b (it is still 2026-06-09 in some time zone, and its rules are in force there)|c:c (it is 2026-06-11 already in some time zone, and its rules are in force there)"
	if strings.Join(rules, "|") != want {
		t.Errorf("merged %q, want %q", strings.Join(rules, "|"), want)
	}
	// The UTC day's list (the engine's, or a plan's) had room to grow in
	// place: it is not written to.
	if spare := own[:2][1]; spare != (policy.Finding{}) {
		t.Errorf("the UTC day's list was written past its end: %+v", spare)
	}
}
