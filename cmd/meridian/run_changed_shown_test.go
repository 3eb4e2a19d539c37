package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// changedRunServer serves two runs: run-000001 marked changed outside
// Meridian with why (a reason holding a terminal escape and a newline,
// as a tenant's text may), run-000002 as written; and an ended timeline.
func changedRunServer(t *testing.T, why string) *httptest.Server {
	t.Helper()
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	marked := &api.RunShown{Run: &run.Run{ID: "run-000001", Tenant: "a", Job: "train", State: run.Failed, Site: "alpha", CreatedAt: t0, UpdatedAt: t0},
		ChangedOutsideMeridian: true, ChangedOutsideMeridianReason: why}
	plain := &api.RunShown{Run: &run.Run{ID: "run-000002", Tenant: "a", Job: "train", State: run.Succeeded, Site: "alpha", CreatedAt: t0, UpdatedAt: t0}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/runs":
			json.NewEncoder(w).Encode(api.RunShownList{Runs: []*api.RunShown{marked, plain}})
		case "/v1/runs/run-000001":
			json.NewEncoder(w).Encode(marked)
		case "/v1/runs/run-000002":
			json.NewEncoder(w).Encode(plain)
		case "/v1/runs/run-000001/events", "/v1/runs/run-000002/events":
			json.NewEncoder(w).Encode(api.EventList{Events: []store.Event{{RunID: "run-000001", Seq: 1, Time: t0, Kind: "state", From: "running", To: "failed", Reason: "done"}}})
		case "/v1/runs/run-000001/logs", "/v1/runs/run-000002/logs":
			w.Header().Set("X-Log-Size", "0")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRunChangedOutsideMeridianWarns: the server marks a run whose row
// was rewritten in the database without the audit key, but describe run
// and get runs printed it as if nothing were wrong (the client dropped
// the mark). Both now print a WARNING line on stderr with the reason,
// escaped (a tenant's text in it cannot write to the terminal), for the
// marked run only; -o json passes the fields through.
func TestRunChangedOutsideMeridianWarns(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	const why = "run run-000001's documents were changed outside Meridian: \x1b[2Jgone\nforged"
	srv := changedRunServer(t, why)
	exec := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(append(args, "--server", srv.URL, "--token", strings.Repeat("a", 40)))
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String(), errOut.String()
	}
	escaped := shown(why)
	if strings.ContainsAny(escaped, "\x1b\n") {
		t.Fatalf("shown left the escape in %q", escaped)
	}
	for _, tc := range []struct {
		args []string
		want []string // the WARNING lines, in order
	}{
		{[]string{"describe", "run", "run-000001"}, []string{"WARNING: this run's record was changed outside Meridian: " + escaped}},
		{[]string{"describe", "run", "run-000002"}, nil},
		{[]string{"get", "runs"}, []string{"WARNING: run run-000001's record was changed outside Meridian: " + escaped}},
		{[]string{"get", "runs", "-o", "wide"}, []string{"WARNING: run run-000001's record was changed outside Meridian: " + escaped}},
		{[]string{"get", "runs", "run-000002", "run-000001"}, []string{"WARNING: run run-000001's record was changed outside Meridian: " + escaped}},
		{[]string{"get", "runs", "run-000002"}, nil},
	} {
		out, errOut := exec(tc.args...)
		var got []string
		for _, l := range strings.Split(errOut, "\n") {
			if strings.Contains(l, "WARNING") {
				got = append(got, l)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%v: warnings %q, want %q", tc.args, got, tc.want)
		}
		if strings.Contains(out+errOut, "\x1b[2J") {
			t.Errorf("%v: the reason's escape reached the terminal", tc.args)
		}
		if !strings.Contains(out, "run-0000") {
			t.Errorf("%v: the run is not printed:\n%s", tc.args, out)
		}
	}

	// -o json: the fields pass through, and nothing is added on stderr.
	for _, args := range [][]string{{"describe", "run", "run-000001", "-o", "json"}, {"get", "runs", "-o", "json"}, {"get", "runs", "run-000001", "-o", "json"}} {
		out, errOut := exec(args...)
		var v struct {
			Run  *api.RunShown   `json:"run"`
			Runs []*api.RunShown `json:"runs"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		r := v.Run
		if r == nil && len(v.Runs) > 0 {
			r = v.Runs[0]
		}
		if r == nil || r.ID != "run-000001" || !r.ChangedOutsideMeridian || r.ChangedOutsideMeridianReason != why {
			t.Errorf("%v: the first run %+v, want run-000001 with changedOutsideMeridian and its reason\n%s", args, r, out)
		}
		if strings.Contains(errOut, "WARNING") {
			t.Errorf("%v: -o json warns on stderr too: %q", args, errOut)
		}
	}

	// run --follow from a server without streams polls the run: it says
	// so once.
	var out, errOut bytes.Buffer
	c := api.NewClient(srv.URL, strings.Repeat("a", 40))
	err := pollRun(context.Background(), &out, &errOut, c, "run-000001", 0, 0, false)
	if err == nil || !strings.Contains(errOut.String(), "WARNING: this run's record was changed outside Meridian: "+escaped+"\n") {
		t.Errorf("run --follow polling a marked run: %v, stderr %q, want the warning", err, errOut.String())
	}
}
