package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// TestFollowKeepsRunChanged: the server marks a run whose row was changed
// outside Meridian in its streams' JSON, but FollowEvents and FollowRuns
// decoded each run as run.Run and dropped changedOutsideMeridian and its
// reason (the runs list's later pages, read with GET, too), so a view
// that follows a run could not say so. They now give each run as
// GetShown does (RunShown), marked as the server sent it; a list that
// names null as a run is an error, and {} a run with no field set.
func TestFollowKeepsRunChanged(t *testing.T) {
	const why = "run run-1's documents were changed outside Meridian: <tenant text>"
	const why2 = "run run-2's site and placement were changed outside Meridian"
	marked := func(id, why string) string {
		return `{"id":"` + id + `","job":"j","state":"running","changedOutsideMeridian":true,"changedOutsideMeridianReason":` + strconvQuote(why) + `}`
	}
	list := `{"runs":[` + marked("run-1", why) + `],"next":"run-1"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/runs/run-1/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: run\ndata: %s\n\nevent: run\ndata: null\n\nevent: end\ndata: {\"state\":\"succeeded\"}\n\n", marked("run-1", why))
		case r.URL.Path == "/v1/runs" && r.URL.Query().Get("follow") == "1":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: runs\ndata: %s\n\nevent: run\ndata: %s\n\n", list, marked("run-3", why))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case r.URL.Path == "/v1/runs" && r.URL.Query().Get("after") == "run-1":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"runs":[`+marked("run-2", why2)+`,{"id":"run-4","job":"j","state":"queued"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := NewClient(srv.URL, tokA)

	var runs []*RunShown
	err := c.FollowEvents(ctx, "run-1", 0, func(ev RunStreamEvent) error {
		if ev.Run != nil {
			runs = append(runs, ev.Run)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != "run-1" || runs[0].State != run.Running || !runs[0].ChangedOutsideMeridian || runs[0].ChangedOutsideMeridianReason != why {
		t.Errorf("FollowEvents: runs %s, want run-1 running, marked with the reason, then null", shownIDs(runs))
	} else if runs[1].Run == nil || runs[1].ChangedOutsideMeridian {
		t.Errorf("FollowEvents: a run event of null gave %+v, want an empty run", runs[1])
	}

	stop := errors.New("seen")
	var got RunsStreamEvent
	var one *RunShown
	err = c.FollowRuns(ctx, func(ev RunsStreamEvent) error {
		if ev.List != nil {
			got = ev
			return nil
		}
		one = ev.Run
		return stop
	})
	if err != stop {
		t.Fatalf("FollowRuns: %v", err)
	}
	l := got.List
	if len(l) != 3 || l[0].ID != "run-1" || !l[0].ChangedOutsideMeridian || l[0].ChangedOutsideMeridianReason != why ||
		l[1].ID != "run-2" || !l[1].ChangedOutsideMeridian || l[1].ChangedOutsideMeridianReason != why2 ||
		l[2].ID != "run-4" || l[2].ChangedOutsideMeridian || l[2].ChangedOutsideMeridianReason != "" {
		t.Errorf("FollowRuns: list %s, want run-1 and (from the next page) run-2 marked, run-4 not", shownIDs(l))
	}
	if one == nil || one.ID != "run-3" || !one.ChangedOutsideMeridian || one.ChangedOutsideMeridianReason != why {
		t.Errorf("FollowRuns: run event %+v, want run-3 marked with the reason", one)
	}

	for data, want := range map[string]string{
		`{"runs":[null]}`: "null as run 0",
		`{"runs":[{}]}`:   "",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "retry: 1\n\nevent: runs\ndata: %s\n\n", data)
		}))
		var l []*RunShown
		err := NewClient(srv.URL, tokA).FollowRuns(ctx, func(ev RunsStreamEvent) error {
			l = ev.List
			return stop
		})
		srv.Close()
		switch {
		case want == "" && (err != stop || len(l) != 1 || l[0] == nil || l[0].Run == nil):
			t.Errorf("FollowRuns of %s: %v, list %+v, want one empty run", data, err, l)
		case want != "" && (err == nil || err == stop || !strings.Contains(err.Error(), want)):
			t.Errorf("FollowRuns of %s: %v, want an error saying %q", data, err, want)
		}
	}
}

// shownIDs is each run of l, its id and mark.
func shownIDs(l []*RunShown) string {
	var s []string
	for _, r := range l {
		s = append(s, fmt.Sprintf("%s:%v:%q", r.ID, r.ChangedOutsideMeridian, r.ChangedOutsideMeridianReason))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestRunChangedOutsideMeridianStreamsStartMarked: a run whose row was
// rewritten before a stream opens is marked in the stream's first event
// that carries it: the runs stream's list (whole, and its first page with
// pages=1) and the run's own stream's first run event; the client's
// FollowRuns and FollowEvents give it marked with the reason.
func TestRunChangedOutsideMeridianStreamsStartMarked(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Witnessed: true, Streams: Streams{Poll: 50 * time.Millisecond, ListPoll: 50 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := NewClient(f.srv.URL, tokA)
	docs, kept := submitTwo(t, a)
	db := f.st.(interface{ DB() *sql.DB }).DB()
	if _, err := db.ExecContext(ctx, `UPDATE runs SET data = replace(data, 'sleep 60', 'sleep 61') WHERE id = ?`, docs); err != nil {
		t.Fatal(err)
	}
	var got shownRun
	getShown(t, f, tokA, "/v1/runs/"+docs, &got) // the GET finds it, as a step would
	if !got.Changed {
		t.Fatalf("GET of run %s rewritten: %+v, want it marked", docs, got)
	}
	check := func(what string, r shownRun) {
		t.Helper()
		want := r.ID == docs
		if r.Changed != want || want && !strings.Contains(r.Why, "documents") || !want && r.Why != "" {
			t.Errorf("%s: run %s sent as %+v, want marked: %v", what, r.ID, r, want)
		}
	}
	for _, q := range []string{"", "&pages=1"} {
		rs, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1"+q, tokA, "")
		if rs == nil {
			t.Fatalf("runs stream: %d %+v", status, e)
		}
		evs := rs.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event != "" })
		rs.close()
		ev := evs[len(evs)-1]
		var l struct{ Runs []shownRun }
		if err := json.Unmarshal([]byte(ev.Data), &l); err != nil || ev.Event != "runs" || len(l.Runs) != 2 {
			t.Fatalf("runs stream%s: first event %q %s (%v), want the list of 2 runs", q, ev.Event, ev.Data, err)
		}
		for _, r := range l.Runs {
			check("runs stream"+q+"'s list", r)
		}
	}
	es, status, e := openEvents(t, f.srv.URL, tokA, docs, "")
	if es == nil {
		t.Fatalf("events stream: %d %+v", status, e)
	}
	evs := es.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event == "run" })
	es.close()
	var r shownRun
	if err := json.Unmarshal([]byte(evs[len(evs)-1].Data), &r); err != nil {
		t.Fatal(err)
	}
	check("events stream's first run event", r)

	stop := errors.New("seen")
	asShown := func(r *RunShown) shownRun {
		return shownRun{ID: r.ID, Changed: r.ChangedOutsideMeridian, Why: r.ChangedOutsideMeridianReason}
	}
	n := 0
	if err := a.FollowRuns(ctx, func(ev RunsStreamEvent) error {
		for _, r := range ev.List {
			check("FollowRuns' list", asShown(r))
			n++
		}
		return stop
	}); err != stop || n != 2 {
		t.Errorf("FollowRuns: %v, %d runs, want the list of 2", err, n)
	}
	for _, id := range []string{docs, kept} {
		seen := false
		if err := a.FollowEvents(ctx, id, 0, func(ev RunStreamEvent) error {
			if ev.Run == nil {
				return nil
			}
			check("FollowEvents", asShown(ev.Run))
			seen = true
			return stop
		}); err != stop || !seen {
			t.Errorf("FollowEvents of %s: %v, run seen %v", id, err, seen)
		}
	}
}

// TestFollowRunChangedBounded: a run event whose reason is long is read
// whole up to the run stream's line bound (MaxSSELine), the mark's fields
// counted in it as any other; one over the bound is an error that names
// it, not read on without end.
func TestFollowRunChangedBounded(t *testing.T) {
	event := func(n int) string {
		return `{"id":"run-1","state":"running","changedOutsideMeridian":true,"changedOutsideMeridianReason":"` + strings.Repeat("x", n) + `"}`
	}
	under := event(MaxSSELine - 200)
	over := event(MaxSSELine)
	for _, tc := range []struct {
		data string
		ok   bool
	}{{under, true}, {over, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "retry: 1\n\nevent: run\ndata: %s\n\nevent: end\ndata: {\"state\":\"running\"}\n\n", tc.data)
		}))
		var why int
		err := NewClient(srv.URL, tokA).FollowEvents(context.Background(), "run-1", 0, func(ev RunStreamEvent) error {
			if ev.Run != nil {
				why = len(ev.Run.ChangedOutsideMeridianReason)
			}
			return nil
		})
		srv.Close()
		if tc.ok && (err != nil || why != MaxSSELine-200) {
			t.Errorf("a run event of %d bytes: %v, reason of %d bytes, want it whole", len(tc.data), err, why)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("over %d bytes", MaxSSELine)) || why != 0) {
			t.Errorf("a run event of %d bytes: %v (reason of %d bytes read), want an error naming the bound", len(tc.data), err, why)
		}
	}
}
