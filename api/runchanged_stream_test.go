package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// TestRunChangedOutsideMeridianIsStreamed: a run whose row was rewritten
// in the database without the audit key is marked changedOutsideMeridian
// by its GET and the runs list, but the streams sent it unmarked: the
// tenant's runs stream (GET /v1/runs?follow=1) never sent it again (its
// row without documents had not moved) and the run's event stream sent
// its state with nothing wrong said. Both now send it marked, with the
// reason, from what the witness keeps: no audit read per event.
func TestRunChangedOutsideMeridianIsStreamed(t *testing.T) {
	var reads *auditReads
	f := newFixtureWith(t, fixtureOptions{Witnessed: true, Streams: Streams{Poll: 50 * time.Millisecond, ListPoll: 50 * time.Millisecond},
		Store: func(st fixtureStore) fixtureStore {
			reads = &auditReads{fixtureStore: st}
			return reads
		}})
	ctx := context.Background()
	a := NewClient(f.srv.URL, tokA)
	docs, kept := submitTwo(t, a)
	rs, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1", tokA, "")
	if rs == nil {
		t.Fatalf("runs stream: %d %+v", status, e)
	}
	if got := rs.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event != "" }); got[len(got)-1].Event != "runs" {
		t.Fatalf("the runs stream began with %+v", got)
	}

	// The workload rewritten; the run's GET finds it, as a step would.
	db := reads.fixtureStore.(interface{ DB() *sql.DB }).DB()
	if _, err := db.ExecContext(ctx, `UPDATE runs SET data = replace(data, 'sleep 60', 'sleep 61') WHERE id = ?`, docs); err != nil {
		t.Fatal(err)
	}
	var got shownRun
	getShown(t, f, tokA, "/v1/runs/"+docs, &got)
	if !got.Changed {
		t.Fatalf("GET of run %s rewritten: %+v, want it marked", docs, got)
	}
	n := reads.n.Load()

	marked := func(ev SSE) shownRun {
		var r shownRun
		if err := json.Unmarshal([]byte(ev.Data), &r); err != nil {
			t.Fatalf("%s event: %v: %s", ev.Event, err, ev.Data)
		}
		return r
	}
	var sent shownRun
	rs.until(t, 10*time.Second, func(ev SSE) bool {
		if ev.Event != "run" {
			return false
		}
		r := marked(ev)
		if r.ID == kept && (r.Changed || r.Why != "") {
			t.Errorf("runs stream: run %s as submitted sent marked: %+v", kept, r)
		}
		if r.ID == docs {
			sent = r
			return true
		}
		return false
	})
	if !sent.Changed || !strings.Contains(sent.Why, "changed outside Meridian") || !strings.Contains(sent.Why, "documents") {
		t.Errorf("runs stream: run %s rewritten sent as %+v, want it marked with the reason", docs, sent)
	}

	// The run's own stream sends its state marked; another run's, not.
	for id, want := range map[string]bool{docs: true, kept: false} {
		es, status, e := openEvents(t, f.srv.URL, tokA, id, "")
		if es == nil {
			t.Fatalf("events stream of %s: %d %+v", id, status, e)
		}
		evs := es.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event == "run" })
		r := marked(evs[len(evs)-1])
		if r.Changed != want || (r.Why != "") != want || want && !strings.Contains(r.Why, "documents") {
			t.Errorf("events stream of run %s: its state sent as %+v, want marked: %v", id, r, want)
		}
		es.close()
	}
	if d := reads.n.Load() - n; d != 0 {
		t.Errorf("the streams read %d pages of the audit log, want none", d)
	}
}

// TestClientDecodesRunChanged: the client read a run's GET and the runs
// list into run.Run, dropping changedOutsideMeridian and its reason, so
// the command line could not say a run's row was changed outside
// Meridian. GetShown, ListShown and ListShownEach keep them; Get and List
// still give the run.
func TestClientDecodesRunChanged(t *testing.T) {
	const why = "run run-1's documents were changed outside Meridian: <tenant text>"
	marked := `{"id":"run-1","job":"j","state":"running","changedOutsideMeridian":true,"changedOutsideMeridianReason":` + strconvQuote(why) + `}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/runs/run-1":
			io.WriteString(w, marked)
		case "/v1/runs":
			io.WriteString(w, `{"runs":[`+marked+`,{"id":"run-2","job":"j","state":"queued"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := NewClient(srv.URL, tokA)
	g, err := c.GetShown(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != "run-1" || g.State != run.Running || !g.ChangedOutsideMeridian || g.ChangedOutsideMeridianReason != why {
		t.Errorf("GetShown: %+v %+v, want run-1 running, marked with the reason", g.Run, g)
	}
	l, err := c.ListShown(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || !l[0].ChangedOutsideMeridian || l[0].ChangedOutsideMeridianReason != why || l[1].ChangedOutsideMeridian || l[1].ID != "run-2" {
		t.Errorf("ListShown: %d runs %+v, want run-1 marked and run-2 not", len(l), l)
	}
	var each []*RunShown
	if err := c.ListShownEach(ctx, func(p []*RunShown) error { each = append(each, p...); return nil }); err != nil || len(each) != 2 || !each[0].ChangedOutsideMeridian {
		t.Errorf("ListShownEach: %v %+v, want run-1 marked", err, each)
	}
	if r, err := c.Get(ctx, "run-1"); err != nil || r.ID != "run-1" {
		t.Errorf("Get: %+v %v", r, err)
	}
	if rs, err := c.List(ctx); err != nil || len(rs) != 2 || rs[1].ID != "run-2" {
		t.Errorf("List: %+v %v", rs, err)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// submitTwo submits two runs of jobYAML through c and returns their ids.
func submitTwo(t *testing.T, c *Client) (string, string) {
	t.Helper()
	var ids []string
	for range 2 {
		r, err := c.Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return ids[0], ids[1]
}
