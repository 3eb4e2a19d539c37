package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// versionsBounded is a Controller without a watch or a read of live runs
// (every poll of its runs stream checks the whole list), whose version
// reads refuse more than max runs as the store refuses more than
// MaxRunVersions, and fail with fail's error once it is set.
type versionsBounded struct {
	Controller
	max      int
	reads    atomic.Int64
	biggest  atomic.Int64 // the most versions one read returned
	fail     atomic.Pointer[error]
	mu       sync.Mutex
	cursored int // reads with a cursor
}

func (c *versionsBounded) ListVersions(ctx context.Context, tenant, after string, limit int) ([]store.RunVersion, error) {
	c.reads.Add(1)
	if err := c.fail.Load(); err != nil {
		return nil, *err
	}
	if after != "" {
		c.mu.Lock()
		c.cursored++
		c.mu.Unlock()
	}
	vs, err := c.Controller.(VersionLister).ListVersions(ctx, tenant, after, limit)
	if err == nil && len(vs) > c.max {
		return nil, fmt.Errorf("run versions of tenant %q: %w (more than %d)", tenant, store.ErrTooMany, c.max)
	}
	if n := int64(len(vs)); n > c.biggest.Load() {
		c.biggest.Store(n)
	}
	return vs, err
}

// TestRunsStreamReadsVersionsInPages: a tenant with more runs than one
// read of their versions returns (here 150; the store's MaxRunVersions,
// ended runs included) follows its runs: the client gets every run (the
// stream's first page and the rest by GET), and then a change to the last
// of them, which only the stream's check of every run's version finds.
// Before, the stream read every version at once, as it opened and at each
// check: it was refused 409 too_many, and a stream open when the tenant
// passed the bound ended without a word.
func TestRunsStreamReadsVersionsInPages(t *testing.T) {
	defer func(n int) { versionPage = n }(versionPage)
	versionPage = 100
	// 200 runs: the stream's list holds them all, and its checks of the
	// whole list read their versions; RunPage+25: the list is a first
	// page, and the versions of the rest are read as the stream opens.
	for _, n := range []int{200, RunPage + 25} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { followManyRuns(t, n) })
	}
}

func followManyRuns(t *testing.T, n int) {
	vb := &versionsBounded{max: 150}
	f := newFixtureWith(t, fixtureOptions{Streams: Streams{ListPoll: 50 * time.Millisecond, FullList: 1},
		Hide: func(c Controller) Controller { vb.Controller = c; return vb }})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		r := &store.Run{ID: fmt.Sprintf("run-%05d", i), Tenant: "a", Job: "j", State: string(run.Succeeded), Data: []byte(`{}`)}
		if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprintf("run-%05d", n-1)
	ca := NewClient(f.srv.URL, tokA)
	errDone := errors.New("done")
	var listed int
	changed := false
	err := ca.FollowRuns(ctx, func(ev RunsStreamEvent) error {
		switch {
		case ev.List != nil && listed == 0:
			listed = len(ev.List)
			if listed != n || ev.List[n-1].ID != last {
				return fmt.Errorf("a list of %d runs, want %d ending with %s", listed, n, last)
			}
			if _, err := f.st.UpdateRun(ctx, last, func(r *store.Run) (store.Change, error) {
				r.Site = "moved"
				return store.Change{}, nil
			}); err != nil {
				return err
			}
		case ev.List != nil:
			return fmt.Errorf("the list came again: the stream broke")
		case ev.Run != nil && ev.Run.ID == last:
			changed = true
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) || !changed {
		t.Fatalf("follow: %v; listed %d runs, the last one's change seen: %v", err, listed, changed)
	}
	vb.mu.Lock()
	cursored := vb.cursored
	vb.mu.Unlock()
	if b := vb.biggest.Load(); b > int64(versionPage) || cursored < 1 {
		t.Errorf("the stream read up to %d versions at once, %d reads with a cursor: want pages of at most %d", b, cursored, versionPage)
	}
}

// TestRunsStreamSaysWhyItEnds: a runs stream whose read of the store
// fails, so that it cannot go on, ends with an error event that says why,
// as an answer would (a fault of the server's by its fault id, not the
// database's text); before, it ended without a word, and a client that
// opened it again met the same failure with nothing to show.
func TestRunsStreamSaysWhyItEnds(t *testing.T) {
	for _, tc := range []struct {
		name, code, hidden string
		err                error
	}{
		{"too many", "too_many", "", fmt.Errorf("run versions of tenant %q: %w (more than 3)", "a", store.ErrTooMany)},
		{"fault", "internal", "db.internal", errors.New("dial tcp db.internal:5432: connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vb := &versionsBounded{max: store.MaxRunVersions}
			f := newFixtureWith(t, fixtureOptions{Streams: Streams{ListPoll: 50 * time.Millisecond, FullList: 1},
				Hide: func(c Controller) Controller { vb.Controller = c; return vb }})
			submitJob(t, NewClient(f.srv.URL, tokA))
			rs, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1", tokA, "")
			if rs == nil {
				t.Fatalf("%d %+v", status, e)
			}
			rs.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event == "runs" })
			vb.fail.Store(&tc.err)
			evs := rs.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event != "run" })
			ev := evs[len(evs)-1]
			if ev.Event != "error" {
				t.Fatalf("event %q %s, want error", ev.Event, ev.Data)
			}
			var body ErrorBody
			if err := json.Unmarshal([]byte(ev.Data), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Fatalf("error event %s (%v): want code %s", ev.Data, err, tc.code)
			}
			if tc.hidden != "" && strings.Contains(ev.Data, tc.hidden) {
				t.Errorf("error event %s shows the fault's text", ev.Data)
			}
			if tc.hidden == "" && !strings.Contains(body.Error.Message, "more than 3") {
				t.Errorf("error event %s does not say which read and bound", ev.Data)
			}
			select {
			case _, ok := <-rs.events:
				if ok {
					t.Errorf("an event after the error")
				}
			case <-time.After(5 * time.Second):
				t.Errorf("the stream is still open after its error")
			}
		})
	}
}

// briefFails is a Controller whose reads of a run fail with fail's error
// once it is set.
type briefFails struct {
	Controller
	fail atomic.Pointer[error]
}

func (c *briefFails) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	if err := c.fail.Load(); err != nil {
		return nil, *err
	}
	return c.Controller.Brief(ctx, tenant, id)
}

// TestRunEventStreamSaysWhyItEnds: a run's event stream whose read of the
// run fails ends with an error event that says why (a fault of the
// server's by its id, not the database's text), as the runs stream does;
// before, it ended without a word.
func TestRunEventStreamSaysWhyItEnds(t *testing.T) {
	bf := &briefFails{}
	f := newFixtureWith(t, fixtureOptions{Streams: Streams{Poll: 50 * time.Millisecond},
		Hide: func(c Controller) Controller { bf.Controller = c; return bf }})
	r := submitJob(t, NewClient(f.srv.URL, tokA))
	c, status, e := openEvents(t, f.srv.URL, tokA, r.ID, "")
	if c == nil {
		t.Fatalf("%d %+v", status, e)
	}
	c.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event == "run" })
	fault := errors.New("dial tcp db.internal:5432: connection refused")
	bf.fail.Store(&fault)
	evs := c.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event != "run" && ev.Event != "event" })
	ev := evs[len(evs)-1]
	var body ErrorBody
	if ev.Event != "error" || json.Unmarshal([]byte(ev.Data), &body) != nil || body.Error.Code != "internal" || strings.Contains(ev.Data, "db.internal") {
		t.Fatalf("event %q %s: want an error event, code internal, without the fault's text", ev.Event, ev.Data)
	}
}

// TestClientStreamErrorEvent: the client returns a stream's error event
// as the connection's error (ErrStreamFailed, with the server's message),
// which a follow that gives up returns, rather than a stream that broke
// for no reason it can say.
func TestClientStreamErrorEvent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 2000\n\nevent: runs\ndata: {\"runs\":[]}\n\nevent: run\ndata: {\"id\":\"r1\",\"tenant\":\"a\",\"job\":\"j\",\"state\":\"running\"}\n\n")
		fmt.Fprint(w, "event: error\ndata: {\"error\":{\"code\":\"too_many\",\"message\":\"run versions: more than 3\"}}\n\n")
	}))
	defer srv.Close()
	c := NewClient(srv.URL, tokA)
	wait := time.Second
	var n int
	_, got, stop, err := c.followRunsOnce(context.Background(), &wait, func(RunsStreamEvent) error { n++; return nil })
	if !errors.Is(err, ErrStreamFailed) || !strings.Contains(err.Error(), "more than 3") || !strings.Contains(err.Error(), "too_many") || stop != nil || !got || n != 2 {
		t.Errorf("followRunsOnce: %v (stop %v, got %v, %d events), want ErrStreamFailed naming the server's error after 2 events", err, stop, got, n)
	}
	wait = time.Second
	_, _, stop, err = c.followOnce(context.Background(), "r1", new(int64), &wait, func(RunStreamEvent) error { return nil })
	if !errors.Is(err, ErrStreamFailed) || !strings.Contains(err.Error(), "more than 3") || stop != nil {
		t.Errorf("followOnce: %v (stop %v), want ErrStreamFailed naming the server's error", err, stop)
	}
}
