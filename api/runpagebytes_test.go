package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/run"
)

// loudRuns is a tenant with n runs, each with as long a reason as a site
// may give (8 KiB). asked is the most runs a read asked the controller for.
type loudRuns struct {
	Controller
	n     int
	asked atomic.Int64
}

func (l *loudRuns) ListPage(ctx context.Context, tenant, after string, limit int) ([]*run.Run, error) {
	if int64(limit) > l.asked.Load() {
		l.asked.Store(int64(limit))
	}
	from := 0
	if after != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(after, "run-"))
		if err != nil {
			return nil, err
		}
		from = n
	}
	var out []*run.Run
	for i := from + 1; i <= l.n && len(out) < limit; i++ {
		r := &run.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: tenant, Job: "j", State: run.Failed}
		r.Reason = strings.Repeat("x", 8<<10)
		out = append(out, r)
	}
	return out, nil
}

func (l *loudRuns) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant}, nil
}

// TestRunPageBytes: a page of GET /v1/runs was bounded by count only, and
// MaxRunPage runs whose sites gave reasons as long as they may (8 KiB)
// made one answer of 40 MiB, read whole into the server's memory first.
// A page now ends before its runs pass MaxRunPageBytes, naming next, and
// the controller is read RunPage runs at a time; the pages hold every run
// once, in order, and a request without limit whose runs pass the bound
// is refused naming limit.
func TestRunPageBytes(t *testing.T) {
	const n = MaxRunPage + 100
	l := &loudRuns{n: n}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { l.Controller = c; return l }})
	get := func(q url.Values) (int, []byte) {
		t.Helper()
		return getBody(t, f.srv.URL+"/v1/runs?"+q.Encode(), tokA)
	}
	seen := 0
	q := url.Values{"limit": {strconv.Itoa(MaxRunPage)}}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("pages never end: %d runs read", seen)
		}
		code, body := get(q)
		if code != http.StatusOK {
			t.Fatalf("page %d: status %d: %.200s", pages, code, body)
		}
		if len(body) > MaxRunPageBytes+4096 {
			t.Fatalf("page %d: %d bytes, over the bound of %d", pages, len(body), MaxRunPageBytes)
		}
		var page RunList
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Runs) == 0 {
			t.Fatalf("page %d holds no run", pages)
		}
		for _, r := range page.Runs {
			if want := fmt.Sprintf("run-%06d", seen+1); r.ID != want {
				t.Fatalf("page %d holds %s, want %s", pages, r.ID, want)
			}
			seen++
		}
		if page.Next == "" {
			break
		}
		q.Set("after", page.Next)
	}
	if seen != n {
		t.Errorf("the pages held %d runs, want %d", seen, n)
	}
	if a := l.asked.Load(); a > RunPage {
		t.Errorf("a page asked the controller for %d runs at once, want at most %d", a, RunPage)
	}
	var e struct{ Error Error }
	code, body := get(nil)
	json.Unmarshal(body, &e)
	if code != http.StatusBadRequest || e.Error.Field != "limit" {
		t.Errorf("without limit: status %d, %+v; want 400 naming limit", code, e.Error)
	}
	// The client reads every page.
	all, err := NewClient(f.srv.URL, tokA).List(context.Background())
	if err != nil || len(all) != n {
		t.Errorf("client: %d runs (%v), want %d", len(all), err, n)
	}
}

// TestFollowedRunsListBytes: the list a runs stream opens with was
// bounded by count only: without pages=1 every run up to MaxRunPage of
// them, which runs with long reasons made tens of megabytes in one event.
// The list is now a page as GET /v1/runs answers it: without pages=1 a
// list that passes MaxRunPageBytes is refused naming limit, and with it
// the first page ends before the bound, naming next.
func TestFollowedRunsListBytes(t *testing.T) {
	const n = 2000
	l := &loudRuns{n: n}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { l.Controller = c; return l }})
	open := func(q string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := open("follow=1")
	if resp.StatusCode != http.StatusBadRequest {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		t.Fatalf("a stream of %d runs of 8 KiB each without pages=1: status %d (%s…), want 400 naming limit", n, resp.StatusCode, b)
	}
	var e struct{ Error Error }
	json.NewDecoder(resp.Body).Decode(&e)
	if e.Error.Field != "limit" {
		t.Errorf("refused naming %q, want limit", e.Error.Field)
	}
	resp = open("follow=1&pages=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pages=1: status %d", resp.StatusCode)
	}
	rd := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if len(data) > MaxRunPageBytes+4096 {
			t.Fatalf("the stream's first list is %d bytes, over the bound of %d", len(data), MaxRunPageBytes)
		}
		var list RunList
		if err := json.Unmarshal([]byte(data), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Runs) == 0 || list.Next != list.Runs[len(list.Runs)-1].ID {
			t.Errorf("the stream's first list holds %d runs and next %q, want a page naming its last run", len(list.Runs), list.Next)
		}
		break
	}
}
