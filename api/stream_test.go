package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// sseConn is one open event stream, read by a goroutine into events.
type sseConn struct {
	resp   *http.Response
	events chan SSE
	err    chan error // the reader's end: io.EOF when the server closed it
	cancel context.CancelFunc
}

// openEvents opens run id's event stream (follow=1) with tok, resuming
// after lastID when it is not empty. A refusal comes back as the status
// and its error body, with conn nil.
func openEvents(t *testing.T, base, tok, id, lastID string) (*sseConn, int, Error) {
	t.Helper()
	return openSSE(t, base+"/v1/runs/"+id+"/events?follow=1", tok, lastID)
}

// openSSE opens the event stream at url; see openEvents.
func openSSE(t *testing.T, url, tok, lastID string) (*sseConn, int, Error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		var e ErrorBody
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%d: error body is not JSON: %q", resp.StatusCode, b)
		}
		return nil, resp.StatusCode, e.Error
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	c := &sseConn{resp: resp, events: make(chan SSE, 1024), err: make(chan error, 1), cancel: cancel}
	go func() {
		rd := NewSSEReader(resp.Body)
		for {
			ev, err := rd.Next()
			if err != nil {
				c.err <- err
				close(c.events)
				return
			}
			c.events <- ev
		}
	}()
	t.Cleanup(c.close)
	return c, resp.StatusCode, Error{}
}

func (c *sseConn) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event, failing the test after d.
func (c *sseConn) next(t *testing.T, d time.Duration) SSE {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatalf("the stream ended: %v", <-c.err)
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event in %s", d)
	}
	return SSE{}
}

// until reads events until one satisfies ok, returning all it read.
func (c *sseConn) until(t *testing.T, d time.Duration, ok func(SSE) bool) []SSE {
	t.Helper()
	deadline := time.Now().Add(d)
	var out []SSE
	for {
		ev := c.next(t, time.Until(deadline))
		out = append(out, ev)
		if ok(ev) {
			return out
		}
	}
}

func timelineOf(t *testing.T, evs []SSE) []store.Event {
	t.Helper()
	var out []store.Event
	for _, ev := range evs {
		if ev.Event != "event" {
			continue
		}
		var e store.Event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		if ev.ID != strconv.FormatInt(e.Seq, 10) {
			t.Errorf("event id %q for seq %d", ev.ID, e.Seq)
		}
		out = append(out, e)
	}
	return out
}

func runOf(t *testing.T, ev SSE) *run.Run {
	t.Helper()
	var r run.Run
	if err := json.Unmarshal([]byte(ev.Data), &r); err != nil {
		t.Fatalf("run data %q: %v", ev.Data, err)
	}
	return &r
}

// shortLimits are a server's limits with read and write timeouts far
// shorter than the streams in the tests last.
func shortLimits() *Limits {
	l := DefaultLimits
	l.Read, l.Write = 300*time.Millisecond, 300*time.Millisecond
	return &l
}

// TestEventStream follows a live run over a real listener whose read and
// write timeouts are 300 ms: the timeline arrives in order with each
// event's seq as its id, the run's state with it; a client that drops the
// connection resumes with Last-Event-ID and gets every later event once;
// the stream outlives the timeouts many times over and ends with "end"
// when the run does. What it sent equals GET …/events.
func TestEventStream(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{Heartbeat: 100 * time.Millisecond, WriteWait: 300 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.c.Run(ctx)
	a := NewClient(f.srv.URL, tokA)
	r, err := a.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, status, e := openEvents(t, f.srv.URL, tokA, r.ID, "")
	if c == nil {
		t.Fatalf("status %d %+v", status, e)
	}
	// Up to running, and its progress (step=1 from the workload).
	first := c.until(t, 20*time.Second, func(ev SSE) bool {
		return ev.Event == "run" && runOf(t, ev).Progress != nil
	})
	c.close()
	got := timelineOf(t, first)
	if len(got) == 0 {
		t.Fatal("no timeline event before progress")
	}
	var runs []*run.Run
	for _, ev := range first {
		if ev.Event == "run" {
			runs = append(runs, runOf(t, ev))
		}
	}
	if runs[0].ID != r.ID || runs[0].Documents != nil {
		t.Errorf("first run event %+v", runs[0])
	}
	if cur := runs[len(runs)-1]; cur.State != run.Running {
		t.Errorf("progress arrived in state %s", cur.State)
	}
	// Hold the connection closed across a state change: the events of the
	// cancel happen while no one listens.
	time.Sleep(time.Second) // past the timeouts again
	if _, err := a.Cancel(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1].Seq
	c2, status, e := openEvents(t, f.srv.URL, tokA, r.ID, strconv.FormatInt(last, 10))
	if c2 == nil {
		t.Fatalf("resume: status %d %+v", status, e)
	}
	rest := c2.until(t, 20*time.Second, func(ev SSE) bool { return ev.Event == "end" })
	var end StreamEnd
	if err := json.Unmarshal([]byte(rest[len(rest)-1].Data), &end); err != nil || end.State != run.Cancelled {
		t.Errorf("end %q (%v)", rest[len(rest)-1].Data, err)
	}
	select {
	case <-c2.events:
		if err := <-c2.err; err != io.EOF {
			t.Errorf("after end: %v, want the server to close the stream", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the stream stayed open after end")
	}
	if since := time.Since(start); since < 3*shortLimits().Write {
		t.Errorf("the stream lasted %s only: not a test of the write timeout", since)
	}
	got = append(got, timelineOf(t, rest)...)
	want, err := a.Events(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the streamed timeline differs from GET …/events (-want +got):\n%s", diff)
	}
	var states []string
	for _, e := range got {
		if e.Kind == "state" {
			states = append(states, e.To)
		}
	}
	if diff := cmp.Diff([]string{"staging", "queued", "running", "cancelled"}, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	// The run is final: a new stream sends what is left after the id and
	// ends at once.
	c3, _, _ := openEvents(t, f.srv.URL, tokA, r.ID, strconv.FormatInt(want[len(want)-1].Seq, 10))
	tail := c3.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event == "end" })
	if n := len(timelineOf(t, tail)); n != 0 {
		t.Errorf("a stream resumed after the last event resent %d events", n)
	}
}

// TestEventStreamHeartbeat: a run with nothing happening still gets a
// comment line each heartbeat, and the stream outlives the write timeout.
func TestEventStreamHeartbeat(t *testing.T) {
	// Each write may take 300 ms as well: the stream lives on because each
	// heartbeat moves the deadline.
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{Heartbeat: 100 * time.Millisecond, WriteWait: 300 * time.Millisecond}})
	ctx := context.Background()
	r, err := NewClient(f.srv.URL, tokA).Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/"+r.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	req.Header.Set("Accept", "text/plain, text/event-stream;q=0.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("Accept: text/event-stream got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// 8 heartbeats, at least 100 ms apart, are more than twice the write
	// timeout: the stream outlived it. They were counted within 1.5 s,
	// which a loaded machine did not always send them in; the stream's
	// end before them is what fails.
	beats := 0
	timeout := time.After(30 * time.Second)
	for beats < 8 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended after %d heartbeats", beats)
			}
			if strings.HasPrefix(l, ":") {
				beats++
			}
		case <-timeout:
			t.Fatalf("%d heartbeats in 30 s at one per 100 ms", beats)
		}
	}
}

// TestEventStreamRefusals: another tenant's token, no token and a bad
// Last-Event-ID get no stream, and nothing of the run.
func TestEventStreamRefusals(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits()})
	r, err := NewClient(f.srv.URL, tokA).Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tok, id, last string
		status              int
		code                string
	}{
		{"other tenant", tokB, r.ID, "", 404, "not_found"},
		{"no token", "", r.ID, "", 401, "unauthorized"},
		{"wrong token", tokA + "x", r.ID, "", 401, "unauthorized"},
		{"no such run", tokA, "run-000000000000", "", 404, "not_found"},
		{"bad last event id", tokA, r.ID, "-1", 400, "invalid"},
		{"last event id not a number", tokA, r.ID, "7; drop table", 400, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, status, e := openEvents(t, f.srv.URL, tc.tok, tc.id, tc.last)
			if c != nil {
				t.Fatalf("a stream opened: %d", status)
			}
			if status != tc.status || e.Code != tc.code || strings.Contains(e.Message, r.Job) {
				t.Errorf("got %d %+v, want %d %s", status, e, tc.status, tc.code)
			}
		})
	}
	if n := f.h.OpenStreams("b"); n != 0 {
		t.Errorf("tenant b holds %d streams after its refusals", n)
	}
}

// TestEventStreamCap: a tenant over its cap of open streams gets 429 with
// Retry-After, another tenant does not, and a closed stream frees its slot.
func TestEventStreamCap(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{PerTenant: 2}})
	ctx := context.Background()
	submit := func(tok string) string {
		r, err := NewClient(f.srv.URL, tok).Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	ra, rb := submit(tokA), submit(tokB)
	var open []*sseConn
	for i := 0; i < 2; i++ {
		c, status, e := openEvents(t, f.srv.URL, tokA, ra, "")
		if c == nil {
			t.Fatalf("stream %d: %d %+v", i+1, status, e)
		}
		c.next(t, 5*time.Second)
		open = append(open, c)
	}
	if c, status, e := openEvents(t, f.srv.URL, tokA, ra, ""); c != nil || status != 429 || e.Code != "too_many_streams" {
		t.Fatalf("third stream: %d %+v", status, e)
	}
	// The logs stream counts as a stream too.
	if status, e := f.raw(t, "GET", "/v1/runs/"+ra+"/logs?follow=1", tokA, ""); status != 429 || e.Code != "too_many_streams" {
		t.Errorf("a logs stream over the cap: %d %+v", status, e)
	}
	if c, status, e := openEvents(t, f.srv.URL, tokB, rb, ""); c == nil {
		t.Errorf("tenant b refused because of a's streams: %d %+v", status, e)
	}
	// The plain timeline and output are not streams.
	if status, e := f.raw(t, "GET", "/v1/runs/"+ra+"/events", tokA, ""); status != 200 {
		t.Errorf("GET …/events without follow over the cap: %d %+v", status, e)
	}
	if status, e := f.raw(t, "GET", "/v1/runs/"+ra+"/logs", tokA, ""); status != 200 {
		t.Errorf("GET …/logs without follow over the cap: %d %+v", status, e)
	}
	open[0].close()
	deadline := time.Now().Add(5 * time.Second)
	for f.h.OpenStreams("a") > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c, status, e := openEvents(t, f.srv.URL, tokA, ra, ""); c == nil {
		t.Errorf("after closing one: %d %+v", status, e)
	}
}

// TestEventStreamShutdown: the server's Shutdown ends open streams (it
// would otherwise wait for them until its context ends) and refuses new
// ones.
func TestEventStreamShutdown(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits()})
	ctx := context.Background()
	r, err := NewClient(f.srv.URL, tokA).Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	c, status, e := openEvents(t, f.srv.URL, tokA, r.ID, "")
	if c == nil {
		t.Fatalf("%d %+v", status, e)
	}
	c.next(t, 5*time.Second)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.hs.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v (a stream held it)", err)
	}
	for range c.events {
	}
	if err := <-c.err; err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("the stream ended with %v", err)
	}
	if n := f.h.OpenStreams("a"); n != 0 {
		t.Errorf("%d streams open after shutdown", n)
	}
	rec := &recorder{ResponseWriter: newDiscard()}
	req, _ := http.NewRequest("GET", "/v1/runs/"+r.ID+"/events?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	f.h.ServeHTTP(rec, req)
	if rec.code() != http.StatusServiceUnavailable {
		t.Errorf("a stream after shutdown: %d", rec.code())
	}
}

// discard is a ResponseWriter that keeps only the header.
type discard struct{ h http.Header }

func newDiscard() *discard                     { return &discard{h: http.Header{}} }
func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// clientConns are the connections a client made, for a test to break.
type clientConns struct {
	mu    sync.Mutex
	conns []net.Conn
}

// trackConns makes c dial through the returned tracker.
func trackConns(c *Client) *clientConns {
	cc := &clientConns{}
	d := &net.Dialer{}
	c.HTTP = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			cc.mu.Lock()
			cc.conns = append(cc.conns, conn)
			cc.mu.Unlock()
		}
		return conn, err
	}}}
	return cc
}

func (cc *clientConns) closeAll() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, c := range cc.conns {
		c.Close()
	}
}

func (cc *clientConns) count() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.conns)
}

// TestFollowEvents: the client follows a run to its end across a broken
// connection, each timeline event once and in order.
func TestFollowEvents(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go f.c.Run(ctx)
	a := NewClient(f.srv.URL, tokA)
	r, err := a.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	// The client's connections, so that the test can break them.
	conns := trackConns(a)
	var got []store.Event
	var end *StreamEnd
	broken, cancelled := false, false
	err = a.FollowEvents(ctx, r.ID, 0, func(ev RunStreamEvent) error {
		switch {
		case ev.Event != nil:
			got = append(got, *ev.Event)
			if ev.Event.To == string(run.Queued) && !broken {
				// Break the stream mid-run; the events up to running
				// are recorded while the client reconnects.
				broken = true
				conns.closeAll()
			}
		case ev.End != nil:
			end = ev.End
		case ev.Run != nil && ev.Run.State == run.Running && !cancelled:
			cancelled = true
			go NewClient(f.srv.URL, tokA).Cancel(ctx, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := a.Events(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if end == nil || end.State != run.Cancelled || !broken {
		t.Errorf("end %+v, connection broken: %v", end, broken)
	}
	if n := conns.count(); n < 2 {
		t.Errorf("%d connections: the client did not reconnect", n)
	}
	// A refusal is returned, not retried.
	var se *StatusError
	if err := NewClient(f.srv.URL, tokB).FollowEvents(ctx, r.ID, 0, func(RunStreamEvent) error { return nil }); !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("tenant b: %v", err)
	}
}

// TestEventStreamPoll: a change no signal announces (another replica
// recorded it) reaches the stream by its poll.
func TestEventStreamPoll(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{Poll: 200 * time.Millisecond},
		Hide: func(c Controller) Controller { return noWatch{c} }})
	cancelReaches(t, f, f.c)
}

// cancelReaches submits a run of tenant a, follows its event stream, asks
// ctl to cancel it and returns how long the request took to reach the
// stream, which must send it as one cancel-requested event and the run.
func cancelReaches(t *testing.T, f *fixture, ctl *run.Controller) time.Duration {
	t.Helper()
	ctx := context.Background()
	r, err := NewClient(f.srv.URL, tokA).Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	c, status, e := openEvents(t, f.srv.URL, tokA, r.ID, "")
	if c == nil {
		t.Fatalf("%d %+v", status, e)
	}
	c.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event == "run" })
	start := time.Now()
	if _, err := ctl.Cancel(ctx, "a", r.ID); err != nil {
		t.Fatal(err)
	}
	got := c.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event == "run" && runOf(t, ev).CancelRequested })
	if evs := timelineOf(t, got); len(evs) != 1 || evs[0].Kind != "cancel-requested" {
		t.Errorf("after the cancel the stream sent %+v", evs)
	}
	return time.Since(start)
}

// TestEventStreamOtherReplica: on PostgreSQL a change another replica
// commits reaches this replica's stream as soon as the database announces
// it, not at the stream's next poll (an hour here, so only the
// announcement can deliver it within the test's 10 s).
func TestEventStreamOtherReplica(t *testing.T) {
	url := pgtest.NewDatabase(t)
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{Poll: time.Hour}, Postgres: url})
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	go func() { f.c.ListenStore(ctx); close(listening) }()
	t.Cleanup(func() { cancel(); <-listening })

	other := otherReplica(t, f, url)
	t.Logf("another replica's change reached the stream in %s", cancelReaches(t, f, other))

	// The tenant's runs stream hears of the other replica's changes too:
	// a run it submits, whose tenant the database's notification names.
	rs, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1", tokA, "")
	if rs == nil {
		t.Fatalf("%d %+v", status, e)
	}
	if got := rs.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event != "" }); got[len(got)-1].Event != "runs" {
		t.Fatalf("the runs stream began with %+v", got)
	}
	r2, _, err := other.Submit(ctx, "a", run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	rs.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event == "run" && runOf(t, ev).ID == r2.ID })
}

// TestRunsStream: GET /v1/runs?follow=1 sends the tenant's list, then each
// of its runs as it is submitted or changes, driven by the controller's
// signal alone (the poll is an hour), and nothing of another tenant's.
// Without a signal the poll brings the same.
func TestRunsStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    fixtureOptions
	}{
		{"signal", fixtureOptions{Limits: shortLimits(), Streams: Streams{ListPoll: time.Hour}}},
		{"poll", fixtureOptions{Limits: shortLimits(), Streams: Streams{ListPoll: 200 * time.Millisecond},
			Hide: func(c Controller) Controller { return noWatch{c} }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, tc.o)
			ctx := context.Background()
			ca, cb := NewClient(f.srv.URL, tokA), NewClient(f.srv.URL, tokB)
			submit := func(cl *Client) *run.Run {
				t.Helper()
				r, err := cl.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			old := submit(ca)
			rs, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1", tokA, "")
			if rs == nil {
				t.Fatalf("%d %+v", status, e)
			}
			got := rs.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event != "" }) // after the retry field
			ev := got[len(got)-1]
			var list RunList
			if err := json.Unmarshal([]byte(ev.Data), &list); ev.Event != "runs" || err != nil {
				t.Fatalf("first event %q %v", ev.Event, err)
			}
			if len(list.Runs) != 1 || list.Runs[0].ID != old.ID || list.Runs[0].Documents != nil {
				t.Fatalf("the list: %+v", list.Runs)
			}
			theirs := submit(cb)
			mine := submit(ca)
			got = rs.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event == "run" && runOf(t, ev).ID == mine.ID })
			for _, ev := range got {
				if r := runOf(t, ev); r.ID == theirs.ID || r.Tenant != "a" {
					t.Errorf("tenant a's stream sent run %s of %s", r.ID, r.Tenant)
				}
			}
			if _, err := ca.Cancel(ctx, old.ID); err != nil {
				t.Fatal(err)
			}
			rs.until(t, 10*time.Second, func(ev SSE) bool {
				r := runOf(t, ev)
				return r.ID == old.ID && r.CancelRequested
			})
		})
	}
}

// otherReplica is a second replica beside fixture f on its database (url):
// its own store and controller, no API.
func otherReplica(t testing.TB, f *fixture, url string) *run.Controller {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), url, store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return run.New(run.Config{Store: st, StateDir: t.TempDir(), CatalogDir: "testdata/sites", Plan: testplan.Cheapest,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		ServerURL: f.srv.URL, AgentKey: []byte("agent key for api tests 01234567"), Replica: "other"})
}

// TestFollowRuns: the client follows tenant a's runs across a broken
// connection: the list on each connection, then a run event for a run
// submitted meanwhile, never another tenant's; fn's error ends it; a
// tenant whose streams are all taken is refused (429) at once.
func TestFollowRuns(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{PerTenant: 1, ListPoll: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	submit := func(tok string) *run.Run {
		t.Helper()
		r, err := NewClient(f.srv.URL, tok).Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := submit(tokA)
	a := NewClient(f.srv.URL, tokA)
	conns := trackConns(a)
	var lists [][]string
	var mine, theirs *run.Run
	stop := errors.New("seen")
	err := a.FollowRuns(ctx, func(ev RunsStreamEvent) error {
		switch {
		case ev.List != nil:
			var ids []string
			for _, r := range ev.List {
				ids = append(ids, r.ID)
			}
			lists = append(lists, ids)
			if len(lists) == 1 {
				// While the tenant's one stream is taken, another is refused.
				var se *StatusError
				if err := NewClient(f.srv.URL, tokA).FollowRuns(ctx, func(RunsStreamEvent) error { return nil }); !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
					t.Errorf("a second stream: %v, want 429", err)
				}
				conns.closeAll()
			} else if mine == nil {
				theirs, mine = submit(tokB), submit(tokA)
			}
		case ev.Run != nil:
			if ev.Run.Tenant != "a" || theirs != nil && ev.Run.ID == theirs.ID {
				t.Errorf("tenant a's stream sent run %s of %s", ev.Run.ID, ev.Run.Tenant)
			}
			if mine != nil && ev.Run.ID == mine.ID {
				return stop
			}
		}
		return nil
	})
	if err != stop {
		t.Fatalf("FollowRuns returned %v, want fn's error", err)
	}
	if len(lists) != 2 || len(lists[0]) != 1 || lists[0][0] != old.ID || len(lists[1]) != 1 {
		t.Errorf("lists %v, want [[%s]] on each of two connections", lists, old.ID)
	}
}

// TestFollowRunsLongList: the runs stream's list is one line as long as
// the list's answer may be, past the 4 MiB a run stream's line may take.
func TestFollowRunsLongList(t *testing.T) {
	var list RunList
	for i := 0; i < 2500; i++ {
		list.Runs = append(list.Runs, &run.Run{ID: fmt.Sprintf("run-%012d", i), Tenant: "a", Job: strings.Repeat("j", 2000)})
	}
	data, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= MaxSSELine {
		t.Fatalf("the list is %d bytes, not over %d", len(data), MaxSSELine)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "retry: 10\n\nevent: runs\ndata: %s\n\n", data)
	}))
	defer srv.Close()
	stop := errors.New("seen")
	var got int
	err = NewClient(srv.URL, tokA).FollowRuns(context.Background(), func(ev RunsStreamEvent) error {
		got = len(ev.List)
		return stop
	})
	if err != stop || got != len(list.Runs) {
		t.Errorf("FollowRuns: %v with %d runs, want the list of %d", err, got, len(list.Runs))
	}
}

// liveOnly is a controller without a tenant watch (so the runs stream
// polls) that lists live runs, and counts its whole lists and live lists.
type liveOnly struct {
	Controller
	whole, live atomic.Int64
}

func (c *liveOnly) ListPage(ctx context.Context, tenant, after string, limit int) ([]*run.Run, error) {
	c.whole.Add(1)
	return c.Controller.ListPage(ctx, tenant, after, limit)
}

func (c *liveOnly) ListLive(ctx context.Context, tenant string) ([]*run.Run, error) {
	c.live.Add(1)
	return c.Controller.(LiveLister).ListLive(ctx, tenant)
}

// TestRunsStreamPollsLiveRuns: without a signal, the runs stream's poll
// reads the runs that can still change, not the tenant's whole list (here
// only the first time: Streams.FullList is out of reach), and still sends
// a new run and a run's end.
func TestRunsStreamPollsLiveRuns(t *testing.T) {
	var lc *liveOnly
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{ListPoll: 50 * time.Millisecond, FullList: 1 << 30},
		Hide: func(c Controller) Controller { lc = &liveOnly{Controller: c}; return lc }})
	ca := NewClient(f.srv.URL, tokA)
	streamSeesChanges(t, f, ca, submitJob(t, ca))
	// Polls go on; count 20 of them (a loaded machine took more than the
	// 1.5 s this once waited for them).
	for deadline := time.Now().Add(30 * time.Second); lc.live.Load() < 20; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d live lists in 30 s of 50 ms polls", lc.live.Load())
		}
	}
	whole, live := lc.whole.Load(), lc.live.Load()
	if whole != 1 {
		t.Errorf("%d whole lists and %d live ones: want the stream's first list only", whole, live)
	}
}

// submitJob submits the test job through c.
func submitJob(t *testing.T, c *Client) *run.Run {
	t.Helper()
	r, err := c.Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// streamSeesChanges opens tenant a's runs stream, then submits a run and
// cancels old: the stream sends the list first, then the new run, then
// old's end.
func streamSeesChanges(t *testing.T, f *fixture, ca *Client, old *run.Run) {
	t.Helper()
	ctx := context.Background()
	rs, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1", tokA, "")
	if rs == nil {
		t.Fatalf("%d %+v", status, e)
	}
	rs.until(t, 5*time.Second, func(ev SSE) bool { return ev.Event == "runs" })
	mine := submitJob(t, ca)
	rs.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event == "run" && runOf(t, ev).ID == mine.ID })
	if _, err := ca.Cancel(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	f.c.Tick(ctx) // the controller ends the run (no loop runs here)
	rs.until(t, 10*time.Second, func(ev SSE) bool {
		r := runOf(t, ev)
		return r.ID == old.ID && r.State.Final()
	})
}

// versionsOnly is a Controller without a watch that counts the runs
// stream's whole lists, version lists and single reads.
type versionsOnly struct {
	Controller
	whole, versions, gets atomic.Int64
}

func (c *versionsOnly) ListPage(ctx context.Context, tenant, after string, limit int) ([]*run.Run, error) {
	c.whole.Add(1)
	return c.Controller.ListPage(ctx, tenant, after, limit)
}

func (c *versionsOnly) ListVersions(ctx context.Context, tenant, after string, limit int) ([]store.RunVersion, error) {
	c.versions.Add(1)
	return c.Controller.(VersionLister).ListVersions(ctx, tenant, after, limit)
}

func (c *versionsOnly) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	c.gets.Add(1)
	return c.Controller.Brief(ctx, tenant, id)
}

// TestRunsStreamChecksVersions: with no watch and a whole-list check at
// every poll, the runs stream reads the tenant's whole list once, then
// each poll asks only for the runs' versions and reads only the runs whose
// version moved on: a new run and a run's end still come, and polls with
// no change read no run.
func TestRunsStreamChecksVersions(t *testing.T) {
	var vc *versionsOnly
	f := newFixtureWith(t, fixtureOptions{Limits: shortLimits(), Streams: Streams{ListPoll: 50 * time.Millisecond, FullList: 1},
		Hide: func(c Controller) Controller { vc = &versionsOnly{Controller: c}; return vc }})
	ctx := context.Background()
	ca := NewClient(f.srv.URL, tokA)
	old := submitJob(t, ca)
	submitJob(t, ca)
	submitJob(t, ca)
	streamSeesChanges(t, f, ca, old)
	// Polls go on, reading versions, and a run only for a change: at most
	// one read for each new version of a run stored meanwhile (runs the
	// tick started may still report), where reading every run at every
	// poll would be 4 runs × 30 polls. A version stored before the counts
	// are taken but after the stream's last poll is read after them: one
	// such read per run is allowed beyond the changes counted.
	stored := func() int64 {
		t.Helper()
		vs, err := f.st.RunVersions(ctx, "a")
		if err != nil || len(vs) != 4 {
			t.Fatalf("%d runs: %v", len(vs), err)
		}
		var n int64
		for _, v := range vs {
			n += v.Version
		}
		return n
	}
	gets, versions, before := vc.gets.Load(), vc.versions.Load(), stored()
	// Thirty polls counted as the stream makes them, not a time: once the
	// 31st has asked for the versions, the 30 before it, and the reads
	// they made, are done.
	for deadline := time.Now().Add(30 * time.Second); vc.versions.Load()-versions < 31; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d version lists in 30 s of 50 ms polls", vc.versions.Load()-versions)
		}
	}
	if n, changes := vc.gets.Load()-gets, stored()-before; n > changes+4 {
		t.Errorf("%d runs read by polls while %d changes were stored (4 runs)", n, changes)
	}
	if n := vc.whole.Load(); n != 1 {
		t.Errorf("%d whole lists: want the stream's first list only", n)
	}
}

// eventsCounted counts the timeline events the controller hands the API.
type eventsCounted struct {
	Controller
	read atomic.Int64
}

func (c *eventsCounted) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	evs, err := c.Controller.EventsAfter(ctx, tenant, id, after, limit)
	c.read.Add(int64(len(evs)))
	return evs, err
}

// TestEventsPages: a run's timeline comes a page at a time (limit, next)
// and from a seq on (after); the event stream reads each event once, not
// the whole timeline at each change.
func TestEventsPages(t *testing.T) {
	var ec *eventsCounted
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { ec = &eventsCounted{Controller: c}; return ec }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.c.Run(ctx)
	a := NewClient(f.srv.URL, tokA)
	r := submitJob(t, a)
	c, status, e := openEvents(t, f.srv.URL, tokA, r.ID, "")
	if c == nil {
		t.Fatalf("status %d %+v", status, e)
	}
	got := timelineOf(t, c.until(t, 20*time.Second, func(ev SSE) bool { return ev.Event == "run" && runOf(t, ev).Progress != nil }))
	time.Sleep(500 * time.Millisecond) // progress comes on, the stream wakes
	if _, err := a.Cancel(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	got = append(got, timelineOf(t, c.until(t, 20*time.Second, func(ev SSE) bool { return ev.Event == "end" }))...)
	streamed := ec.read.Load()

	all, err := a.Events(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 5 {
		t.Fatalf("a timeline of %d events", len(all))
	}
	if n := int64(len(all)); streamed > n {
		t.Errorf("the stream read %d events for a timeline of %d", streamed, n)
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Errorf("the streamed timeline (-GET +stream):\n%s", diff)
	}

	page := func(q string) (int, EventList) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/"+r.ID+"/events"+q, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l EventList
		json.NewDecoder(resp.Body).Decode(&l)
		return resp.StatusCode, l
	}
	var paged []store.Event
	after, pages := int64(0), 0
	for ; pages < 100; pages++ {
		code, l := page(fmt.Sprintf("?limit=2&after=%d", after))
		if code != http.StatusOK {
			t.Fatalf("page after %d: %d", after, code)
		}
		paged = append(paged, l.Events...)
		if l.Next == 0 {
			break
		}
		if l.Next <= after || len(l.Events) != 2 {
			t.Fatalf("page after %d: %d events, next %d", after, len(l.Events), l.Next)
		}
		after = l.Next
	}
	if diff := cmp.Diff(all, paged); diff != "" || pages < len(all)/2-1 {
		t.Errorf("%d pages of 2 (-whole +paged):\n%s", pages+1, diff)
	}
	if _, l := page(fmt.Sprintf("?after=%d", all[2].Seq)); cmp.Diff(all[3:], l.Events) != "" || l.Next != 0 {
		t.Errorf("after event %d: %+v next %d", all[2].Seq, l.Events, l.Next)
	}
	for _, bad := range []string{"?limit=0", fmt.Sprintf("?limit=%d", MaxEventPage+1), "?after=-1"} {
		if code, _ := page(bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}
