package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
)

// brokenRules is a RulesService whose law finds n problems in any change,
// each quoting a long rule id, as the loader does of a file of broken rules.
type brokenRules struct {
	RulesService
	n int
}

func (b brokenRules) problems() error {
	ps := make(policy.Problems, b.n)
	for i := range ps {
		ps[i] = policy.Problem{File: "law.yaml", Line: i + 1, Rule: fmt.Sprintf("%s-%d", strings.Repeat("r", 200), i), Field: "condition", Message: "does not compile"}
	}
	return ps
}

func (b brokenRules) Apply(ctx context.Context, req RulesApplyRequest, by string) (*RulesApplyResult, error) {
	return nil, b.problems()
}

func (b brokenRules) WhatIf(ctx context.Context, req WhatIfRequest) (any, error) {
	return nil, b.problems()
}

// TestRuleProblemsBounded: a rules change (or what-if) refused for its
// problems was answered with every one of them twice, as the message and
// as the list: 20,000 problems quoting rule ids of 200 bytes (what the
// 4 MiB of a body holds) made an answer of 11 MB. The answer lists the first MaxRuleProblems, and
// its message says how many more there are.
func TestRuleProblemsBounded(t *testing.T) {
	f := newFixture(t)
	if _, err := AddToken(context.Background(), f.st, "ops", tokAdmin, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	f.h.SetRules(brokenRules{n: n})
	for _, rq := range []struct{ path, body string }{
		{"/v1/rules", `{"files": [{"name": "law.yaml", "content": "x"}], "reason": "test"}`},
		{"/v1/rules/what-if", `{"files": [{"name": "law.yaml", "content": "x"}]}`},
	} {
		req, _ := http.NewRequest("POST", f.srv.URL+rq.path, strings.NewReader(rq.body))
		req.Header.Set("Authorization", "Bearer "+tokAdmin)
		req.Header.Set("Content-Type", BodyType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body struct {
			Error    Error            `json:"error"`
			Problems []policy.Problem `json:"problems"`
		}
		if err := json.Unmarshal(data, &body); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("POST %s: %d %v %.200s", rq.path, resp.StatusCode, err, data)
		}
		if len(data) > 128<<10 || len(body.Problems) != MaxRuleProblems {
			t.Errorf("POST %s: %d problems in %d bytes, want the first %d in at most 128 KiB", rq.path, len(body.Problems), len(data), MaxRuleProblems)
		}
		if want := fmt.Sprintf("%d more problems not shown", n-MaxRuleProblems); !strings.Contains(body.Error.Message, want) || len(body.Error.Message) > MaxErrorMessage+100 {
			t.Errorf("POST %s: message of %d bytes ends %q, want it to say %q", rq.path, len(body.Error.Message), body.Error.Message[max(len(body.Error.Message)-200, 0):], want)
		}
	}
}

// TestDeniedMessageBounded: a denial's answer carries its error beside
// the staging's result, written without writeErr and so without its
// bound on the message.
func TestDeniedMessageBounded(t *testing.T) {
	res := &run.StageResult{Dataset: "ds", Site: "alpha", AsOf: "2026-12-06"}
	for i := range 2000 {
		res.Decision.Denials = append(res.Decision.Denials, policy.Finding{Rule: fmt.Sprintf("rule-%d", i), Message: strings.Repeat("m", 100)})
	}
	w := httptest.NewRecorder()
	fail(w, &run.DeniedError{Result: res})
	var body DeniedBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("%d %v", w.Code, err)
	}
	if len(body.Error.Message) > MaxErrorMessage+100 {
		t.Errorf("a denial of 2,000 findings: a message of %d bytes, want at most about %d", len(body.Error.Message), MaxErrorMessage)
	}
}
