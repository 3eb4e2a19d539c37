package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// changedRuns is a controller whose runs were written outside Meridian:
// reading one meets the run package's refusal.
type changedRuns struct{ Controller }

const changedWhy = "run run-1 (job tiny of tenant a): its row places it at site \"bravo\", but its newest sealed decision record (seq 4) names site \"alpha\""

func changedErr() error {
	return fmt.Errorf("read run run-1: %w", fmt.Errorf("%s: %w", changedWhy, run.ErrRunChanged))
}

func (changedRuns) Get(context.Context, string, string) (*run.Run, error) {
	return nil, changedErr()
}

// changedWhatIf asks a what-if over a run written outside Meridian.
type changedWhatIf struct{ RulesService }

func (changedWhatIf) WhatIf(context.Context, WhatIfRequest) (any, error) { return nil, changedErr() }

// TestRunChangedOutsideMeridianIsAConflict: a run's status, or a what-if
// over it, that meets a run whose row was written outside Meridian (the
// run package's ErrRunChanged) answers 409 with the reason, which the
// tenant can act on (ask the operator to restore the row); it answered a
// bare 500 naming a fault id only.
func TestRunChangedOutsideMeridianIsAConflict(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { return changedRuns{c} }})
	f.h.SetRules(changedWhatIf{})
	const tokAdmin = "dddddddddddddddddddddddddddddddddddddddd"
	if _, err := AddToken(context.Background(), f.st, "ops", tokAdmin, true, "test", "test"); err != nil {
		t.Fatal(err)
	}
	code, e := f.raw(t, "GET", "/v1/runs/run-1", tokA, "")
	if code != http.StatusConflict || e.Code != "conflict" || !strings.Contains(e.Message, changedWhy) {
		t.Errorf("status of a changed run: %d %+v, want 409 conflict with the reason", code, e)
	}
	b, _ := json.Marshal(WhatIfRequest{Remove: []string{"house.yaml"}})
	code, e = f.raw(t, "POST", "/v1/rules/what-if", tokAdmin, string(b))
	if code != http.StatusConflict || e.Code != "conflict" || !strings.Contains(e.Message, changedWhy) {
		t.Errorf("what-if over a changed run: %d %+v, want 409 conflict with the reason", code, e)
	}
}

// auditReads counts the audit log's pages read through the store.
type auditReads struct {
	fixtureStore
	n atomic.Int64
}

func (s *auditReads) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	s.n.Add(1)
	return s.fixtureStore.AuditSelectPage(ctx, q)
}

// shownRun is what GET /v1/runs/{id} and the runs list say of a run's
// row being changed outside Meridian.
type shownRun struct {
	ID      string `json:"id"`
	Changed bool   `json:"changedOutsideMeridian"`
	Why     string `json:"changedOutsideMeridianReason"`
}

func getShown(t *testing.T, f *fixture, tok, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// TestRunChangedOutsideMeridianIsShown: a run whose row was rewritten in
// the database without the audit key (its documents, its tenant, its
// site and placement) is refused at its next step, but GET
// /v1/runs/{id} and GET /v1/runs answered it 200 as if nothing were
// wrong. Both now mark it changedOutsideMeridian with the reason, as GET
// /v1/resources marks a resource; the list reads no audit record for it
// (it says what the run's last confirmation found), and a run as written
// is not marked.
func TestRunChangedOutsideMeridianIsShown(t *testing.T) {
	var reads *auditReads
	f := newFixtureWith(t, fixtureOptions{Witnessed: true, Store: func(st fixtureStore) fixtureStore {
		reads = &auditReads{fixtureStore: st}
		return reads
	}})
	ctx := context.Background()
	a := NewClient(f.srv.URL, tokA)
	var ids, sites []string
	for range 4 {
		r, err := a.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
		if err != nil {
			t.Fatal(err)
		}
		ids, sites = append(ids, r.ID), append(sites, r.Site)
	}
	// The first is placed; the others may wait for room.
	place, docs, moved, kept := ids[0], ids[1], ids[2], ids[3]
	if sites[0] == "" {
		t.Fatalf("run %s not placed", place)
	}
	var before shownRun
	getShown(t, f, tokA, "/v1/runs/"+kept, &before)
	if before.Changed || before.Why != "" {
		t.Fatalf("a run as submitted: %+v, want it not marked", before)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := f.st.(*auditReads).fixtureStore.(interface{ DB() *sql.DB }).DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// The workload rewritten; the site and placement moved to another
	// site (row and placement agreeing); the row moved to tenant b.
	exec(`UPDATE runs SET data = replace(data, 'sleep 60', 'sleep 61') WHERE id = ?`, docs)
	exec(`UPDATE runs SET site = 'elsewhere', data = replace(data, ?, '"site":"elsewhere"') WHERE id = ?`, `"site":"`+sites[0]+`"`, place)
	exec(`UPDATE runs SET tenant = 'b' WHERE id = ?`, moved)

	for _, c := range []struct {
		id, tok, want string
	}{{docs, tokA, "documents"}, {place, tokA, "placement"}, {moved, tokB, "documents"}} {
		var got shownRun
		getShown(t, f, c.tok, "/v1/runs/"+c.id, &got)
		if !got.Changed || !strings.Contains(got.Why, "changed outside Meridian") || !strings.Contains(got.Why, c.want) || !strings.Contains(got.Why, c.id) {
			t.Errorf("GET of run %s rewritten (%s): %+v, want it marked changed outside Meridian, naming the run and its %s", c.id, c.want, got, c.want)
		}
	}
	var got shownRun
	getShown(t, f, tokA, "/v1/runs/"+kept, &got)
	if got.Changed || got.Why != "" {
		t.Errorf("GET of a run as submitted: %+v, want it not marked", got)
	}

	// The list says so too, from what the GETs confirmed: no audit read.
	list := func(tok string) map[string]shownRun {
		t.Helper()
		var page struct {
			Runs []shownRun `json:"runs"`
		}
		getShown(t, f, tok, "/v1/runs?limit=200", &page)
		out := map[string]shownRun{}
		for _, r := range page.Runs {
			out[r.ID] = r
		}
		return out
	}
	n := reads.n.Load()
	la, lb := list(tokA), list(tokB)
	if d := reads.n.Load() - n; d != 0 {
		t.Errorf("the runs lists read %d pages of the audit log, want none", d)
	}
	for id, want := range map[string]string{docs: "documents", place: "placement"} {
		if r := la[id]; !r.Changed || !strings.Contains(r.Why, want) {
			t.Errorf("list: run %s rewritten (%s): %+v, want it marked with the reason", id, want, r)
		}
	}
	if r := lb[moved]; !r.Changed || !strings.Contains(r.Why, "documents") {
		t.Errorf("tenant b's list: run %s moved to it: %+v, want it marked with the reason", moved, r)
	}
	if r, ok := la[kept]; !ok || r.Changed || r.Why != "" {
		t.Errorf("list: run as submitted: %+v (listed %v), want it listed, not marked", r, ok)
	}

	// The run whose placement was rewritten, failed at its step for it,
	// is still marked: its row keeps the placement written outside.
	if _, err := f.c.Step(ctx, place); err != nil {
		t.Logf("step: %v", err)
	}
	got = shownRun{}
	getShown(t, f, tokA, "/v1/runs/"+place, &got)
	var st struct {
		State string `json:"state"`
	}
	getShown(t, f, tokA, "/v1/runs/"+place, &st)
	if st.State != string(run.Failed) || !got.Changed || !strings.Contains(got.Why, "placement") {
		t.Errorf("GET of run %s failed for its placement: %s %+v, want it failed and marked", place, st.State, got)
	}
	if r := list(tokA)[place]; !r.Changed || !strings.Contains(r.Why, "placement") {
		t.Errorf("list: run %s failed for its placement: %+v, want it marked", place, r)
	}

	// The row restored: its GET confirms it again, and neither marks it.
	exec(`UPDATE runs SET data = replace(data, 'sleep 61', 'sleep 60') WHERE id = ?`, docs)
	got = shownRun{}
	getShown(t, f, tokA, "/v1/runs/"+docs, &got)
	if got.Changed || got.Why != "" {
		t.Errorf("GET of run %s restored: %+v, want it not marked", docs, got)
	}
	if r := list(tokA)[docs]; r.Changed || r.Why != "" {
		t.Errorf("list: run %s restored: %+v, want it not marked", docs, r)
	}
}
