package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
)

// TestVerbsShowServerTextAsText: every verb that prints what a server
// answered (run, cancel, logs -f's last line, tenant add and revoke, rules
// apply, audit verify, run-id completion) prints its names, states,
// reasons and hashes through shown: a hostile or impersonated server that
// puts an escape sequence in them gets it written out as text, never acted
// on by the terminal. An audit verification that says "broken" without
// naming where is reported broken, not a crash.
func TestVerbsShowServerTextAsText(t *testing.T) {
	esc := "x\x1b]52;c;ZXZpbA==\x07\x1b[2J\u009b31m\u202e"
	hostileRun := func(state string) *run.Run {
		r := &run.Run{ID: "run-1" + esc, Tenant: "t1", Job: "job" + esc, State: run.State(state + esc), Site: "site" + esc, CreatedAt: time.Now()}
		r.Reason = "why" + esc
		r.Placement.Country = "C" + esc
		r.Placement.Accelerator = "acc" + esc
		r.AsOf = "2026-12-04" + esc
		return r
	}
	verify := audit.Result{OK: true, Entries: 3, Head: "head" + esc, Unproven: "unproven" + esc,
		Anchored: &audit.Anchor{Seq: 2, Time: "t" + esc}, Accepted: []audit.Accepted{{Problem: audit.Problem{Seq: 1, Kind: "k" + esc, Detail: "d" + esc}, At: 2}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := func(v any) { json.NewEncoder(w).Encode(v) }
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/runs":
			answer(hostileRun("queued"))
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/cancel"):
			answer(hostileRun("failed"))
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/logs"):
			w.Header().Set("X-Log-Size", "0")
		case r.Method == "GET" && r.URL.Path == "/v1/runs":
			answer(api.RunList{Runs: []*run.Run{hostileRun("running"), {ID: "run-2", Job: "j" + esc, State: run.State("running" + esc)}}})
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/v1/runs/"):
			// An end logs -f stops at: a state it knows.
			r := hostileRun("")
			r.State = run.Succeeded
			answer(r)
		case r.Method == "POST" && r.URL.Path == "/v1/tenants":
			answer(api.NewTenantToken{Tenant: "t" + esc, ID: "id" + esc, Token: "tok" + esc})
		case r.Method == "DELETE":
			answer(api.Revoked{Tenant: "t" + esc, Revoked: 1})
		case r.Method == "POST" && r.URL.Path == "/v1/rules":
			answer(api.RulesApplyResult{RuleRevision: api.RuleRevision{Revision: 2, SHA256: "sha" + esc, Reason: "because" + esc},
				Diff: &rules.Diff{Added: []string{"a" + esc}, Removed: []string{"r" + esc}, Changed: []rules.RuleChange{{ID: "c" + esc, Fields: []rules.FieldChange{{Field: "f" + esc, From: "1" + esc, To: "2"}}}},
					Definitions: []rules.FieldChange{{Field: "d" + esc}}, Thresholds: []rules.FieldChange{{Field: "h" + esc}}}})
		case r.URL.Path == "/v1/audit/verify":
			answer(verify)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(dir, "none.yaml"))
	t.Setenv("MERIDIAN_HOME", dir)
	t.Setenv("MERIDIAN_SERVER", srv.URL)
	t.Setenv("MERIDIAN_TOKEN", "secret")
	t.Setenv("MERIDIAN_TLS_FINGERPRINT", "")
	job := filepath.Join(dir, "job.yaml")
	os.WriteFile(job, []byte("kind: TrainingJob\n"), 0o600)

	// as main runs them: standard output and error, and the error main
	// prints.
	cli := func(args ...string) string {
		root := newRootCmd()
		var b bytes.Buffer
		root.SetOut(&b)
		root.SetErr(&b)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			report(&b, err)
		}
		return b.String()
	}
	for _, args := range [][]string{
		{"run", "-f", job},
		{"cancel", "run-1"},
		{"logs", "run-1", "-f"},
		{"tenant", "add", "lab"},
		{"tenant", "revoke", "lab"},
		{"rules", "apply", "--remove", "x.yaml", "--reason", "test"},
		{"audit", "verify"},
		{"__complete", "logs", ""},
	} {
		out := cli(args...)
		if strings.ContainsFunc(strings.NewReplacer("\n", "", "\t", "").Replace(out), escaped) {
			t.Errorf("%v: control characters reach the terminal: %q", args, out)
		}
		if !strings.Contains(out, `x\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m\u202e`) {
			t.Errorf("%v: the server's text is not shown as text: %q", args, out)
		}
	}

	for _, res := range []audit.Result{{OK: false}, {OK: false, Problem: &audit.Problem{Seq: 4, Kind: "k" + esc, Detail: "d" + esc}}, {OK: true, Unkeyed: true, Head: "h" + esc, Unproven: "u" + esc}} {
		var b bytes.Buffer
		if err := printVerify(&b, res); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsFunc(strings.NewReplacer("\n", "").Replace(b.String()), escaped) || !strings.Contains(b.String(), "audit log") {
			t.Errorf("%+v: %q", res, b.String())
		}
		if !res.OK && !strings.Contains(b.String(), "BROKEN") {
			t.Errorf("a broken log not reported broken: %q", b.String())
		}
	}
}
