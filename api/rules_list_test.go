package api

import (
	"encoding/json"
	"testing"
)

// TestRulesList: GET /v1/rules gives each built-in rule's state on the
// asked day and its enforcement steps, the console's rules timeline.
func TestRulesList(t *testing.T) {
	mx := newSQLiteMatrix(t)
	state := func(asOf string) (RuleEntry, string) {
		t.Helper()
		status, body := mx.do(t, "GET", "/v1/rules?asOf="+asOf, tokOther, "")
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		var l RuleList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		for _, r := range l.Rules {
			if r.ID == "us-ear-affiliates-2025" {
				return r, l.AsOf
			}
		}
		t.Fatalf("no us-ear-affiliates-2025 among %d rules", len(l.Rules))
		return RuleEntry{}, ""
	}
	for asOf, want := range map[string]string{
		"2025-09-28": "not-yet-effective",
		"2025-09-29": "active",
		"2025-11-10": "suspended until 2026-11-10",
		"2026-11-10": "active",
	} {
		r, got := state(asOf)
		if got != asOf || r.State != want {
			t.Errorf("as of %s (answered for %s): state %q, want %q", asOf, got, r.State, want)
		}
		if len(r.Enforcement) != 2 || r.Enforcement[0] != (RuleStep{State: "in-force", From: "2025-09-29"}) ||
			r.Enforcement[1] != (RuleStep{State: "suspended-until", From: "2025-11-10", Until: "2026-11-10"}) {
			t.Errorf("enforcement %+v", r.Enforcement)
		}
		if r.EffectiveFrom != "2025-09-29" || len(r.Sources) == 0 {
			t.Errorf("effectiveFrom %q, sources %v", r.EffectiveFrom, r.Sources)
		}
	}
	for _, bad := range []string{"2025-13-01", "yesterday", "0001-01-01"} {
		if status, body := mx.do(t, "GET", "/v1/rules?asOf="+bad, tokOther, ""); status != 400 {
			t.Errorf("asOf=%s: %d %s", bad, status, body)
		}
	}
}
