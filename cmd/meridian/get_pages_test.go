package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// pageRun is run i of runPagesServer: with a document, progress and a
// reason that needs escaping, so that its JSON and YAML are not trivial.
func pageRun(i int) *run.Run {
	r := &run.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: "a", Job: "train", State: run.Running, Site: "alpha", Attempt: 1,
		CreatedAt: time.Date(2026, 12, 4, 0, 0, i%60, 0, time.UTC), UpdatedAt: time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	r.Progress = &run.Progress{Step: int64(i), Loss: 1.5}
	r.Reason = fmt.Sprintf("<step %d> & \"more\"", i)
	r.Attempts = []run.Attempt{{N: 1, Site: "alpha", Manifests: map[string]string{"corpus": "ab"}}}
	return r
}

// pageEvent is event seq of the timeline runPagesServer serves.
func pageEvent(seq int64) store.Event {
	return store.Event{RunID: "run-000000", Seq: seq, Time: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), Kind: "state", From: "queued", To: "running", Reason: fmt.Sprintf("event <%d>", seq)}
}

// TestRunsAndTimelinePrintAsPagesCome: get runs -o json|yaml prints each
// page of the tenant's runs before it asks for the next, and describe run
// -o json|yaml each page of the run's timeline, byte for byte what render
// prints of the whole, and keep none: a listing longer than
// api.MaxListPages prints whole. Before, both collected every page first
// (up to the listing's bounds, 256 MiB), printed nothing until the last
// came, and failed past those bounds.
func TestRunsAndTimelinePrintAsPagesCome(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	// In JSON more pages than a listing kept whole may have; in YAML
	// (slower to write) a few.
	var pages int
	var out lockedBuffer
	var notYetPrinted atomic.Int64
	printed := func(s string) bool { return strings.Contains(out.String(), s) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/runs":
			// One run a page, named by its number; the next page is
			// asked for once the one before is printed.
			i := 0
			if after := r.URL.Query().Get("after"); after != "" {
				n, _ := strconv.Atoi(strings.TrimPrefix(after, "run-"))
				if !printed(after) {
					notYetPrinted.Add(1)
				}
				i = n + 1
			}
			page := api.RunList{Runs: []*run.Run{pageRun(i)}}
			if i+1 < pages {
				page.Next = page.Runs[0].ID
			}
			json.NewEncoder(w).Encode(page)
		case r.URL.Path == "/v1/runs/run-000000":
			json.NewEncoder(w).Encode(pageRun(0))
		case r.URL.Path == "/v1/runs/run-000000/events":
			after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
			if after > 0 && !printed(fmt.Sprintf("event <%d>", after)) {
				notYetPrinted.Add(1)
			}
			page := api.EventList{Events: []store.Event{pageEvent(after + 1)}}
			if after+1 < int64(pages) {
				page.Next = after + 1
			}
			json.NewEncoder(w).Encode(page)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, format := range []string{"json", "yaml"} {
		pages = api.MaxListPages + 3
		if format == "yaml" {
			pages = 25
		}
		var runs []*run.Run
		var events []store.Event
		for i := range pages {
			runs = append(runs, pageRun(i))
			events = append(events, pageEvent(int64(i+1)))
		}
		for _, tc := range []struct {
			args  []string
			whole any
		}{
			{[]string{"get", "runs"}, map[string]any{"runs": runs}},
			{[]string{"describe", "run", "run-000000"}, struct {
				Run    *run.Run      `json:"run"`
				Events []store.Event `json:"events"`
			}{pageRun(0), events}},
		} {
			out.mu.Lock()
			out.buf.Reset()
			out.mu.Unlock()
			root := newRootCmd()
			root.SetOut(&out)
			root.SetErr(io.Discard)
			root.SetArgs(append(tc.args, "-o", format, "--server", srv.URL, "--token", strings.Repeat("a", 40)))
			if err := root.Execute(); err != nil {
				t.Fatalf("%v -o %s of %d pages: %v", tc.args, format, pages, err)
			}
			var want bytes.Buffer
			if err := render(&want, format, tc.whole, nil); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != want.String() {
				t.Errorf("%v -o %s: %d bytes, not render's %d of the whole", tc.args, format, len(got), want.Len())
			}
		}
	}
	if n := notYetPrinted.Load(); n != 0 {
		t.Errorf("%d times a page was asked for before the one before it was printed", n)
	}
}

// TestRunPagesAsRender: runs and a timeline printed a page at a time are
// byte for byte what render prints of the whole, empty or not.
func TestRunPagesAsRender(t *testing.T) {
	var runs []*run.Run
	var events []store.Event
	for i := range 7 {
		runs = append(runs, pageRun(i))
		events = append(events, pageEvent(int64(i+1)))
	}
	for _, n := range []int{0, 1, 7} {
		for _, format := range []string{"json", "yaml"} {
			var want, got bytes.Buffer
			if err := render(&want, format, map[string]any{"runs": append([]*run.Run{}, runs[:n]...)}, nil); err != nil {
				t.Fatal(err)
			}
			o, err := newPagedOut[*run.Run](&got, format, "runs", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i += 3 {
				o.page(runs[i:min(i+3, n)])
			}
			if err := o.end(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%d runs in %s:\n%s\nwant:\n%s", n, format, got.String(), want.String())
			}

			want.Reset()
			got.Reset()
			view := struct {
				Run    *run.Run      `json:"run"`
				Events []store.Event `json:"events"`
			}{runs[0], append([]store.Event{}, events[:n]...)}
			if err := render(&want, format, view, nil); err != nil {
				t.Fatal(err)
			}
			e, err := newPagedOut[store.Event](&got, format, "events", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			e.lead("run", runs[0])
			for i := 0; i < n; i += 2 {
				e.page(events[i:min(i+2, n)])
			}
			if err := e.end(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("a run and %d events in %s:\n%s\nwant:\n%s", n, format, got.String(), want.String())
			}
		}
	}
}
