package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// TestQueuePages: GET /v1/queue answers a page at a time. A tenant with
// more held runs than an answer holds gets a 400 naming limit from an
// unpaged request rather than one answer of every run, and the client
// reads the whole queue in pages: every one of the tenant's held runs once,
// in admission order, none of another tenant's.
func TestQueuePages(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{})
	ctx := context.Background()
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const mine = MaxRunPage + 7
	for i := range mine + 20 {
		tenant := "a"
		if i%(mine/20+1) == 3 {
			tenant = "b"
		}
		data, _ := json.Marshal(run.Data{AsOf: "2026-12-01", Hold: &run.Hold{Reason: "waiting for capacity", Wait: run.WaitCapacity, Since: since, NextTry: since.Add(time.Hour)}})
		r := &store.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: tenant, Job: "j", State: string(run.Held), Data: data}
		if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	a := NewClient(f.srv.URL, tokA)

	if status, e := f.raw(t, "GET", "/v1/queue", tokA, ""); status != http.StatusBadRequest || e.Field != "limit" {
		t.Errorf("an unpaged queue of more than %d runs: %d %+v; want 400 naming limit", MaxRunPage, status, e)
	}
	var page QueueList
	if _, _, err := a.do(ctx, http.MethodGet, "/v1/queue?limit=10&after=5", nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Queue) != 10 || page.Queue[0].Position != 6 || page.Next != "15" {
		t.Errorf("limit=10 after=5: %d entries from position %d, next %q; want 10 from 6, next 15", len(page.Queue), page.Queue[0].Position, page.Next)
	}
	cursor := base64.RawURLEncoding.EncodeToString([]byte(`{"r":"run-000001"}`))
	for _, bad := range []string{"after=-1", "after=x", "limit=0", fmt.Sprintf("limit=%d", MaxRunPage+1),
		"cursor=%21", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{}`)), "cursor=" + strings.Repeat("e30", 400), "after=3&cursor=" + cursor,
		"limit=10&cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"R":"run-000001"}`))} { // a key in another case
		if status, e := f.raw(t, "GET", "/v1/queue?"+bad, tokA, ""); status != http.StatusBadRequest || e.Field == "" {
			t.Errorf("%s: %d %+v; want 400 naming the field", bad, status, e)
		}
	}

	q, err := a.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range q {
		if e.Tenant != "a" || e.Position != i+1 || seen[e.Run] {
			t.Fatalf("entry %d: %s of %s at position %d (seen before: %v)", i, e.Run, e.Tenant, e.Position, seen[e.Run])
		}
		seen[e.Run] = true
	}
	all, err := f.st.ListRuns(ctx, store.ListOptions{Tenant: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != len(all) || len(q) <= MaxRunPage {
		t.Errorf("the client read %d held runs of a's %d", len(q), len(all))
	}
}

// shiftingQueue answers the first page of the queue, then, as if a run
// had been held ahead of them meanwhile, a second page that starts with
// the first page's last run again.
type shiftingQueue struct{ asked int }

func (s *shiftingQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.asked++
	page := QueueList{Queue: []run.QueueEntry{{Run: "run-1", Position: 1}, {Run: "run-2", Position: 2}}, Next: "2"}
	if s.asked > 1 {
		page = QueueList{Queue: []run.QueueEntry{{Run: "run-2", Position: 3}, {Run: "run-3", Position: 4}}}
	}
	json.NewEncoder(w).Encode(page)
}

// TestQueueShownOnce: a run the queue moved into the next page between
// two requests is listed once, where the client first saw it.
func TestQueueShownOnce(t *testing.T) {
	srv := httptest.NewServer(&shiftingQueue{})
	defer srv.Close()
	q, err := NewClient(srv.URL, tokA).Queue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, e := range q {
		runs = append(runs, e.Run)
	}
	if strings.Join(runs, " ") != "run-1 run-2 run-3" {
		t.Errorf("the client listed %v, want run-1 run-2 run-3, each once", runs)
	}
}

// TestQueuePagesAcrossChanges: runs admitted or cancelled (ahead of the
// page's end, and the page's last run itself) and runs newly held (ahead
// of it and behind it) between two pages neither hide a run held
// throughout from the client's listing nor show one twice; before, the
// next page started at a position, which each of those shifted.
func TestQueuePagesAcrossChanges(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{})
	ctx := context.Background()
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	hold := func(id string, priority int) {
		t.Helper()
		data, _ := json.Marshal(run.Data{AsOf: "2026-12-01", Priority: priority, Hold: &run.Hold{Reason: "waiting for capacity", Wait: run.WaitCapacity, Since: since, NextTry: since.Add(time.Hour)}})
		r := &store.Run{ID: id, Tenant: "a", Job: "j", State: string(run.Held), Data: data}
		if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	const n = RunPage + 30
	for i := range n {
		hold(fmt.Sprintf("run-%06d", i), 0)
	}
	var first QueueList
	if _, _, err := NewClient(f.srv.URL, tokA).do(ctx, http.MethodGet, fmt.Sprintf("/v1/queue?limit=%d", RunPage), nil, &first); err != nil {
		t.Fatal(err)
	}
	if len(first.Queue) != RunPage {
		t.Fatalf("the first page: %d entries, want %d", len(first.Queue), RunPage)
	}
	// What leaves the queue after the first page: two runs ahead of its
	// end, its last run, and one run of the next page.
	gone := map[string]bool{first.Queue[0].Run: true, first.Queue[RunPage/2].Run: true, first.Queue[RunPage-1].Run: true, fmt.Sprintf("run-%06d", RunPage+5): true}
	changed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.h.ServeHTTP(w, r)
		if r.URL.Path != "/v1/queue" || changed {
			return
		}
		changed = true
		for id := range gone {
			if _, err := f.st.UpdateRun(ctx, id, func(row *store.Run) (store.Change, error) {
				row.State = string(run.Succeeded)
				return store.Change{}, nil
			}); err != nil {
				t.Error(err)
			}
		}
		hold("run-new-first", 5) // ahead of every run
		hold("run-new-last", 0)  // behind every run
		// A write of the server's own to a held run, after which the
		// queue is read again at once.
		if _, err := f.c.Cancel(ctx, "a", fmt.Sprintf("run-%06d", RunPage+10)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()

	q, err := NewClient(srv.URL, tokA).Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]int{}
	for _, e := range q {
		shown[e.Run]++
	}
	for i := range n {
		id := fmt.Sprintf("run-%06d", i)
		if c := shown[id]; c != 1 && !gone[id] {
			t.Errorf("%s, held throughout, was shown %d times", id, c)
		}
	}
	if shown["run-new-last"] != 1 {
		t.Errorf("the run held behind the page's end was shown %d times, want once", shown["run-new-last"])
	}
}
