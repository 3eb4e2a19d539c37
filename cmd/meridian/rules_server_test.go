package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
)

// cli runs the meridian binary with args and returns its output and exit
// code.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// denyCountryPack is a rule file denying training in country from day on.
func denyCountryPack(t *testing.T, dir, id, country, day string) string {
	t.Helper()
	path := filepath.Join(dir, id+".yaml")
	doc := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: ` + id + `}
rules:
  - id: ` + id + `
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: ` + day + `
    enforcement: in-force
    confidence: confirmed
    sources: ["rules_server_test.go"]
    message: "site {site.name} is in {site.country}"
    condition: "site.country == '` + country + `'"
`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRulesThroughServer: the rules verbs against a running server. Only
// the admin changes the law; a bad or oversized pack is refused with the
// file, rule and field named and changes nothing; an accepted pack is a
// revision that history and diff show, and the live runs are re-checked.
func TestRulesThroughServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	tv := newTenants(t)
	ctx := context.Background()
	url := "http://" + tv.p.addr
	cfg, err := readClientConfig(tv.p.state)
	if err != nil {
		t.Fatal(err)
	}
	admin := []string{"--server", url, "--token", cfg.Token}
	tenant := []string{"--server", url, "--token", tv.tokA}
	dir := t.TempDir()
	// A live run: the rule the admin applies denies its country.
	job := jobFor("us-lab", "US", nil, "echo step=1 loss=2 tokens_per_s=3; sleep 120")
	r, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
	if err != nil {
		t.Fatal(err)
	}
	// The run's workload outlives the test otherwise, and its agent went
	// on writing under the state directory while the test's temporary
	// directories were removed (before the server stops: cleanups run
	// last registered first).
	t.Cleanup(func() { cancelAndWait(t, tv.alpha, r.ID) })
	country := r.Placement.Country
	good := denyCountryPack(t, dir, "test-no-here", country, "2020-01-01")

	revisions := func() int {
		h, err := tv.p.c.RulesHistory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(h)
	}

	// A tenant's token may read the history but not change the law.
	_, stderr, code := cli(t, append([]string{"rules", "apply", "-f", good, "--reason", "tenant tries"}, tenant...)...)
	if code == 0 || !strings.Contains(stderr, "admin token") {
		t.Fatalf("a tenant applied rules: exit %d, %s", code, stderr)
	}
	if _, stderr, code := cli(t, append([]string{"what-if", "--rules", good}, tenant...)...); code != 2 && code != 1 || !strings.Contains(stderr, "admin token") {
		t.Fatalf("a tenant asked what-if of the live runs: exit %d, %s", code, stderr)
	}

	// Bad packs: named problems, exit 2, nothing changes.
	bad := filepath.Join(dir, "bad.yaml")
	broken := bytes.Replace(mustRead(t, good), []byte("site.country == '"+country+"'"), []byte("site.country =="), 1)
	if bytes.Equal(broken, mustRead(t, good)) {
		t.Fatal("the pack has no condition to break")
	}
	os.WriteFile(bad, broken, 0o644)
	_, stderr, code = cli(t, append([]string{"rules", "apply", "-f", bad, "--reason", "broken"}, admin...)...)
	if code != 2 || !strings.Contains(stderr, "bad.yaml") || !strings.Contains(stderr, `rule "test-no-here"`) || !strings.Contains(stderr, "condition") {
		t.Fatalf("a pack whose CEL does not compile: exit %d, %s", code, stderr)
	}
	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, make([]byte, 50<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = cli(t, append([]string{"rules", "apply", "-f", huge, "--reason", "huge"}, admin...)...)
	if code != 2 || !strings.Contains(stderr, "huge.yaml") || !strings.Contains(stderr, "limit") {
		t.Fatalf("a 50 MB pack through the CLI: exit %d, %s", code, stderr)
	}
	// The same 50 MB sent to the API directly stops at the body limit.
	body, _ := json.Marshal(api.RulesApplyRequest{Files: []api.RuleFile{{Name: "huge.yaml", Content: strings.Repeat("#", 50<<20)}}, Reason: "huge"})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/rules", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("a 50 MB rules request: %d, want 413", resp.StatusCode)
		}
	}
	// A name that is a path, straight to the API.
	_, err = tv.p.c.RulesApply(ctx, api.RulesApplyRequest{Files: []api.RuleFile{{Name: "../x.yaml", Content: string(mustRead(t, good))}}, Reason: "path"})
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "files[0].name") {
		t.Fatalf("a path as a rule file name: %v", err)
	}
	if n := revisions(); n != 0 {
		t.Fatalf("refused changes made %d revisions", n)
	}

	// The change would move the live run (or hold it when nowhere else is
	// lawful); what-if says so first, exit 3.
	out, stderr, code := cli(t, append([]string{"what-if", "--rules", good, "-o", "json"}, admin...)...)
	if code != 3 {
		t.Fatalf("what-if of a change that touches a live run: exit %d, %s %s", code, out, stderr)
	}
	var rep run.WhatIfReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Affected != 1 || len(rep.Runs) != 1 || rep.Runs[0].Run != r.ID || rep.Runs[0].Rule != "test-no-here" {
		t.Fatalf("what-if report %+v (%v)", rep, err)
	}
	if n := revisions(); n != 0 {
		t.Fatalf("what-if made %d revisions", n)
	}

	out, stderr, code = cli(t, append([]string{"rules", "apply", "-f", good, "--reason", "no more training here", "-o", "json"}, admin...)...)
	if code != 0 {
		t.Fatalf("apply: exit %d, %s", code, stderr)
	}
	var res api.RulesApplyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Revision != 1 || len(res.Diff.Added) != 1 || res.Diff.Added[0] != "test-no-here" {
		t.Fatalf("apply result %s (%v)", out, err)
	}
	// Anyone may read the history; it names who and why.
	out, _, code = cli(t, append([]string{"rules", "history", "-o", "json"}, tenant...)...)
	var hist []api.RuleRevision
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 1 || hist[0].Reason != "no more training here" || hist[0].SHA256 != res.SHA256 {
		t.Fatalf("history: exit %d, %s", code, out)
	}
	out, _, code = cli(t, append([]string{"rules", "diff", "0", "1"}, admin...)...)
	if code != 0 || !strings.Contains(out, "test-no-here") {
		t.Fatalf("diff 0 1: exit %d, %s", code, out)
	}
	// The run leaves the US: moved or held, with the rule named.
	var got *run.Run
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got, err = tv.alpha.Get(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if got.State == run.Held || got.Placement.Country != country && (got.State == run.Running || got.State == run.Checkpointed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s at %s after the rule change: %s", r.ID, got.State, got.Site, got.Reason)
		}
	}
	t.Logf("after the revision: %s at %s (%s)", got.State, got.Site, got.Reason)
	if got.State == run.Held && (got.Hold == nil || got.Hold.Rule != "test-no-here" || got.Hold.Revision != 1) {
		t.Fatalf("held without the rule and revision: %+v", got.Hold)
	}
	// The revision is in the audit log, verified.
	all, err := tv.p.c.AuditAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range all {
		found = found || e.Kind == rules.KindRevision && strings.Contains(string(e.Payload), res.SHA256)
	}
	if !found {
		t.Fatal("the revision is not in the audit log")
	}
	if v, err := tv.p.c.Verify(ctx); err != nil || !v.OK {
		t.Fatalf("audit: %+v %v", v, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWhatIfJobFiles: what-if against job files, offline: exit 3 when the
// proposed rule takes the job's best placement (JSON names the rule and
// the new best), 0 when it touches nothing, 2 on bad input.
func TestWhatIfJobFiles(t *testing.T) {
	dir := t.TempDir()
	job := "../../examples/qwen-offshore.yaml"
	out, stderr, code := cli(t, "plan", "-f", job, "--as-of", "2026-06-01", "-o", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d %s", code, stderr)
	}
	var p struct {
		Placements []struct{ Site, Country string } `json:"placements"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Placements) == 0 {
		t.Fatalf("plan output: %v", err)
	}
	best := p.Placements[0].Country
	hits := denyCountryPack(t, dir, "test-no-best", best, "2020-01-01")
	out, stderr, code = cli(t, "what-if", "--rules", hits, "-f", job, "--as-of", "2026-06-01", "-o", "json")
	if code != 3 {
		t.Fatalf("a rule against the best placement's country: exit %d, %s %s", code, out, stderr)
	}
	var wrapped struct {
		Affected int         `json:"affected"`
		Jobs     []JobWhatIf `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &wrapped); err != nil {
		t.Fatalf("what-if JSON: %v: %s", err, out)
	}
	rep := wrapped.Jobs
	if wrapped.Affected != 1 || len(rep) != 1 || !rep[0].Affected || rep[0].Rule != "test-no-best" || rep[0].Before == nil || rep[0].Before.Country != best ||
		(rep[0].After != nil && rep[0].After.Country == best) {
		t.Fatalf("what-if report: %s", out)
	}
	misses := denyCountryPack(t, filepath.Join(dir), "test-no-antarctica", "AQ", "2020-01-01")
	if out, stderr, code := cli(t, "what-if", "--rules", misses, "-f", job, "--as-of", "2026-06-01"); code != 0 {
		t.Fatalf("a rule that touches nothing: exit %d, %s %s", code, out, stderr)
	}
	for _, args := range [][]string{
		{"what-if", "--rules", hits, "-f", job, "--as-of", "June"},
		{"what-if", "-f", job},
		{"what-if", "--rules", filepath.Join(dir, "missing.yaml"), "-f", job},
	} {
		if _, stderr, code := cli(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, %q; want 2 with a message", args, code, stderr)
		}
	}
}

// cancelAndWait cancels run id and waits up to a minute for it to end.
func cancelAndWait(t *testing.T, c *api.Client, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Cancel(ctx, id); err != nil {
		t.Logf("cancel %s: %v", id, err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, err := c.Get(ctx, id); err == nil && got.State.Final() {
			return
		}
	}
	t.Errorf("run %s did not end within a minute of its cancellation", id)
}
