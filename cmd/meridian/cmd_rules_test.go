package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCommand(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"rules-2025-10-15.txt", []string{"rules", "--as-of", "2025-10-15"}},
		{"rules-show-affiliates-2025-12-01.txt", []string{"rules", "show", "us-ear-affiliates-2025", "--as-of", "2025-12-01"}},
		{"rules-show-russia-2025-08-01.txt", []string{"rules", "show", "ru-23fz-2025", "--as-of", "2025-08-01"}},
		{"rules-show-doj-2025-07-20.txt", []string{"rules", "show", "us-doj-dsp-2025", "--as-of", "2025-07-20"}},
		{"rules-examples-active-2025-10-15.txt", []string{"rules", "--active", "--as-of", "2025-10-15", "--rules", filepath.Join("..", "..", "examples", "rules")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := runCLI(t, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, out)
		})
	}
}

func TestRulesJSON(t *testing.T) {
	out, err := runCLI(t, "rules", "--as-of", "2025-12-15", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		AsOf  string `json:"asOf"`
		Rules []struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			Active bool   `json:"active"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	states := map[string]string{}
	for _, r := range got.Rules {
		states[r.ID] = r.State
	}
	want := map[string]string{
		"us-ear-affiliates-2025":   "suspended until 2026-11-10",
		"us-ear-aidiff-2025-tier3": "not-enforced",
		"us-eo-14110-reporting":    "expired",
		"eu-ai-act-art52-notify":   "active",
		"us-ear-h200-case-by-case": "not-yet-effective",
	}
	for id, st := range want {
		if states[id] != st {
			t.Errorf("%s: state %q, want %q", id, states[id], st)
		}
	}
	if got.AsOf != "2025-12-15" {
		t.Errorf("asOf %q", got.AsOf)
	}
}

func TestRulesBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"rules", "--as-of", "15/10/2025"}, "--as-of"},
		{[]string{"rules", "show", "no-such-rule"}, `no rule "no-such-rule"`},
		{[]string{"rules", "--rules", "does-not-exist"}, "does-not-exist"},
		{[]string{"rules", "-o", "xml", "--as-of", "2025-01-01"}, "-o"},
		// Proposed packs a server is asked about are named by the flag
		// that gave them: what-if's --rules, rules apply's -f.
		{[]string{"what-if", "--rules", "does-not-exist"}, "--rules does-not-exist:"},
		{[]string{"rules", "apply", "-f", "does-not-exist", "--reason", "r"}, "-f does-not-exist:"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, err := runCLI(t, c.args...)
			var ce *codeError
			if !errors.As(err, &ce) || ce.code != exitBadInput {
				t.Fatalf("want exit %d, got %v", exitBadInput, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}
