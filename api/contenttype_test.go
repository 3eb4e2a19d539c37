package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
)

// TestBodyContentTypeEnforced: a request body the API would decode as
// JSON is refused 415, naming the Content-Type header and the one type
// taken, when it says it is something else or says nothing. Before, a
// text/plain or form POST of a valid plan was planned, and a submission
// was run, as if it had said application/json.
func TestBodyContentTypeEnforced(t *testing.T) {
	f := newFixture(t)
	plan, _ := json.Marshal(run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	submit, _ := json.Marshal(run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	post := func(method, path, body string, ctype []string) (int, Error) {
		t.Helper()
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokA)
		for _, c := range ctype {
			req.Header.Add("Content-Type", c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var e ErrorBody
		if resp.StatusCode >= 400 {
			if err := json.Unmarshal(data, &e); err != nil {
				t.Fatalf("%s %s: error body is not JSON: %q", method, path, data)
			}
		}
		return resp.StatusCode, e.Error
	}
	refused := []struct {
		name, method, path, body string
		ctype                    []string
	}{
		{"text/plain plan", "POST", "/v1/plans", string(plan), []string{"text/plain"}},
		{"form plan", "POST", "/v1/plans", string(plan), []string{"application/x-www-form-urlencoded"}},
		{"no Content-Type", "POST", "/v1/plans", string(plan), nil},
		{"YAML submission", "POST", "/v1/runs", string(submit), []string{"application/yaml"}},
		{"text/plain submission", "POST", "/v1/runs", string(submit), []string{"text/plain;charset=utf-8"}},
		{"another charset", "POST", "/v1/plans", string(plan), []string{"application/json; charset=latin1"}},
		{"another parameter", "POST", "/v1/plans", string(plan), []string{"application/json; boundary=x"}},
		{"does not parse", "POST", "/v1/plans", string(plan), []string{"application/json; ="}},
		{"a json suffix", "POST", "/v1/plans", string(plan), []string{"application/vnd.x+json"}},
		{"key as text", "PUT", "/v1/datasets/none/key", `{"key": "x"}`, []string{"text/plain"}},
		{"cancel with a text body", "POST", "/v1/runs/nope/cancel", `{}`, []string{"text/plain"}},
	}
	for _, c := range refused {
		code, e := post(c.method, c.path, c.body, c.ctype)
		if code != http.StatusUnsupportedMediaType || e.Code != "unsupported_media_type" || e.Field != "Content-Type" || !strings.Contains(e.Message, "application/json") {
			t.Errorf("%s: %d %+v, want 415 naming Content-Type and application/json", c.name, code, e)
		}
	}
	if code, e := post("POST", "/v1/plans", string(plan), []string{"application/json", "text/plain"}); code != http.StatusBadRequest || e.Field != "Content-Type" {
		t.Errorf("Content-Type given twice: %d %+v, want 400 naming it", code, e)
	}
	if n, a := f.counts(t); n != 0 || a != 0 {
		t.Errorf("refused bodies wrote %d runs, %d audit entries", n, a)
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"} {
		if code, e := post("POST", "/v1/plans", string(plan), []string{ct}); code != http.StatusOK {
			t.Errorf("a plan sent as %q: %d %+v, want 200", ct, code, e)
		}
	}
	// A request without a body needs no Content-Type: a cancel, and an
	// empty body that the route then refuses for being empty.
	if code, e := post("POST", "/v1/runs/nope/cancel", "", nil); code != http.StatusNotFound {
		t.Errorf("a cancel without a body: %d %+v, want 404", code, e)
	}
	if code, e := post("POST", "/v1/plans", "", []string{"text/plain"}); code != http.StatusBadRequest || e.Code != "malformed" {
		t.Errorf("an empty plan: %d %+v, want 400 malformed", code, e)
	}
}

// TestClientSendsJSONContentType: every call of the client that sends a
// body says it is JSON, as the server requires.
func TestClientSendsJSONContentType(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		}
		writeErr(w, http.StatusBadRequest, "invalid", "", "no")
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "t")
	ctx := t.Context()
	c.Submit(ctx, run.SubmitRequest{})
	c.Plan(ctx, run.PlanRequest{}, 1)
	c.Estimate(ctx, run.EstimateRequest{})
	c.Apply(ctx, nil, false)
	c.PutKey(ctx, "d", "k")
	c.Stage(ctx, "d", run.StageRequest{})
	c.VerifyDataset(ctx, "d", "s")
	c.AddTenant(ctx, TenantRequest{})
	c.RulesApply(ctx, RulesApplyRequest{})
	c.WhatIf(ctx, WhatIfRequest{})
	if len(got) != 10 {
		t.Fatalf("%d requests with a body, want 10: %q", len(got), got)
	}
	for _, g := range got {
		if !strings.HasSuffix(g, " "+BodyType) {
			t.Errorf("%s: want Content-Type %s", g, BodyType)
		}
	}
}
