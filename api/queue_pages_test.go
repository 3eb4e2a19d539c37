package api

import (
	"context"
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
	for _, bad := range []string{"after=-1", "after=x", "limit=0", fmt.Sprintf("limit=%d", MaxRunPage+1)} {
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
