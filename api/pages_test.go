package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// longLogs serves one run's output of size bytes, made up as it is read
// (byte p is logByte(p)), so that the route's paging and streaming can be
// tried on more than an answer holds without writing it anywhere. The real
// reader of kept output is run's (TestLogsFrom, TestLogPageReadsRunOnce).
type longLogs struct {
	Controller
	size  int64
	mu    sync.Mutex
	most  int64 // the largest limit asked for
	read  int   // the most of the output read at once
	opens int   // how often the output was opened (the run read)
}

func logByte(p int64) byte { return byte('a' + p%23) }

func (l *longLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	if off < 0 || limit <= 0 {
		return nil, 0, fmt.Errorf("offset %d, limit %d", off, limit)
	}
	l.mu.Lock()
	l.most = max(l.most, limit)
	l.opens++
	l.mu.Unlock()
	from := min(off, l.size)
	return &madeUpLog{l: l, at: from, end: from + min(limit, l.size-from)}, l.size, nil
}

// madeUpLog reads longLogs' output from at to end.
type madeUpLog struct {
	l       *longLogs
	at, end int64
}

func (m *madeUpLog) Read(b []byte) (int, error) {
	if m.at >= m.end {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), m.end-m.at))
	for i := range b[:n] {
		b[i] = logByte(m.at + int64(i))
	}
	m.at += int64(n)
	m.l.mu.Lock()
	m.l.read = max(m.l.read, n)
	m.l.mu.Unlock()
	return n, nil
}

func (m *madeUpLog) Close() error { return nil }

// Brief says the run ended, so that a followed log stops at its end.
func (l *longLogs) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Succeeded}, nil
}

// checkWriter checks that what it is given is the made-up output from
// offset from on.
type checkWriter struct {
	at  int64
	bad int64 // the first wrong position + 1, or 0
}

func (c *checkWriter) Write(b []byte) (int, error) {
	for i, x := range b {
		if c.bad == 0 && x != logByte(c.at+int64(i)) {
			c.bad = c.at + int64(i) + 1
		}
	}
	c.at += int64(len(b))
	return len(b), nil
}

// TestLogsInPages: an output longer than one answer holds is refused
// without limit, naming it, and read whole a page at a time by the client
// and by a followed log; a short one is answered whole without limit, as
// before pages.
func TestLogsInPages(t *testing.T) {
	long := &longLogs{size: MaxLogPage + 3<<20 + 7}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { long.Controller = c; return long }})
	ctx := context.Background()
	a := NewClient(f.srv.URL, tokA)

	code, e := f.raw(t, "GET", "/v1/runs/run-long/logs", tokA, "")
	if code != http.StatusBadRequest || e.Field != "limit" || e.Message == "" {
		t.Errorf("the whole of %d bytes without limit: %d %+v", long.size, code, e)
	}
	// From near the end, the rest fits: answered without limit.
	b, size, err := a.LogsPage(ctx, "run-long", long.size-10, MaxLogPage)
	if err != nil || len(b) != 10 || size != long.size {
		t.Errorf("the last 10 bytes: %d bytes, size %d, %v", len(b), size, err)
	}
	if code, _ := f.raw(t, "GET", fmt.Sprintf("/v1/runs/run-long/logs?offset=%d", long.size-MaxLogPage), tokA, ""); code != 200 {
		t.Errorf("the last %d bytes without limit: %d", MaxLogPage, code)
	}

	// The client reads it all, a page at a time.
	long.most = 0
	w := &checkWriter{}
	end, err := a.CopyLogs(ctx, "run-long", 0, w)
	if err != nil || end != long.size || w.at != long.size || w.bad != 0 {
		t.Fatalf("CopyLogs: to %d (%v), wrote %d of %d, first wrong byte at %d", end, err, w.at, long.size, w.bad-1)
	}
	if long.most > logPage {
		t.Errorf("the client asked for pages of %d bytes, want at most %d", long.most, logPage)
	}
	got, size, err := a.Logs(ctx, "run-long", long.size-MaxLogPage-5)
	if err != nil || int64(len(got)) != MaxLogPage+5 || size != long.size {
		t.Errorf("Logs of the last %d bytes: %d bytes, to %d, %v", MaxLogPage+5, len(got), size, err)
	}

	// A followed log streams it all, in pieces.
	long.read = 0
	w = &checkWriter{at: 5}
	if err := a.FollowLogs(ctx, "run-long", 5, w); err != nil || w.at != long.size || w.bad != 0 {
		t.Fatalf("FollowLogs: %v, wrote to %d of %d, first wrong byte at %d", err, w.at, long.size, w.bad-1)
	}
	if long.read > followChunk {
		t.Errorf("the followed log read %d bytes at once, want at most %d", long.read, followChunk)
	}

	// A short output is answered whole without limit.
	long.size = 1000
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/run-long/logs", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 1000 || resp.Header.Get("X-Log-Size") != "1000" {
		t.Errorf("1000 bytes without limit: %d, %d bytes, size %q", resp.StatusCode, len(body), resp.Header.Get("X-Log-Size"))
	}
}

// TestRunsInPages: GET /v1/runs answers a page of the tenant's runs with
// the next page's after; the pages are the whole list, oldest first, and
// the client reads them all. A page after another tenant's run, or of a
// size out of bounds, is refused naming the parameter.
func TestRunsInPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := NewClient(f.srv.URL, tokA), NewClient(f.srv.URL, tokB)
	var want []string
	for i := range 5 {
		r, err := a.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.ID)
		if i == 2 {
			if _, err := b.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	after, pages := "", 0
	for {
		path := "/v1/runs?limit=2"
		if after != "" {
			path += "&after=" + after
		}
		var page RunList
		if _, _, err := a.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Runs) > 2 {
			t.Fatalf("a page of 2 holds %d", len(page.Runs))
		}
		for _, r := range page.Runs {
			got = append(got, r.ID)
			if r.Documents != nil {
				t.Errorf("run %s in the list carries its documents", r.ID)
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("in pages of 2: %v in %d pages, want %v in 3", got, pages, want)
	}
	all, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("List: %v, want %v", ids, want)
	}
	bs, err := b.List(ctx)
	if err != nil || len(bs) != 1 {
		t.Fatalf("tenant b's list: %d runs, %v", len(bs), err)
	}
	for _, c := range []struct{ path, field string }{
		{"/v1/runs?after=" + bs[0].ID, "after"},
		{"/v1/runs?after=run-000000000000", "after"},
		{"/v1/runs?limit=0", "limit"},
		{fmt.Sprintf("/v1/runs?limit=%d", MaxRunPage+1), "limit"},
	} {
		if code, e := f.raw(t, "GET", c.path, tokA, ""); code != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("GET %s: %d %+v, want 400 naming %s", c.path, code, e, c.field)
		}
	}
}

// manyRuns serves a tenant's list of n runs made up as they are read
// (run-000000, run-000001, …), so that the list's paging can be tried on
// more runs than a page holds without submitting them; ignoreAfter makes
// it answer the first page whatever after says, as a broken server would.
type manyRuns struct {
	Controller
	n           int
	ignoreAfter bool
	// most is the largest page asked for.
	most atomic.Int64
}

func (m *manyRuns) ListPage(ctx context.Context, tenant, after string, limit int) ([]*run.Run, error) {
	if int64(limit) > m.most.Load() {
		m.most.Store(int64(limit))
	}
	from := 0
	if after != "" && !m.ignoreAfter {
		var i int
		if _, err := fmt.Sscanf(after, "run-%06d", &i); err != nil {
			return nil, err
		}
		from = i + 1
	}
	var out []*run.Run
	for i := from; i < m.n && len(out) < limit; i++ {
		out = append(out, &run.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: tenant, State: run.Succeeded})
	}
	return out, nil
}

func (m *manyRuns) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Succeeded}, nil
}

// TestRunsWithoutLimit: a request without limit (a client from before
// pages) gets the whole list when it fits in one answer and a 400 naming
// limit when it does not, never a first page passed off as the whole. The
// client pages through any number, and stops with an error on a server
// whose pages would never end.
func TestRunsWithoutLimit(t *testing.T) {
	many := &manyRuns{n: MaxRunPage}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { many.Controller = c; return many }})
	ctx := context.Background()
	a := NewClient(f.srv.URL, tokA)
	var whole RunList
	if _, _, err := a.do(ctx, http.MethodGet, "/v1/runs", nil, &whole); err != nil || len(whole.Runs) != MaxRunPage || whole.Next != "" {
		t.Errorf("%d runs without limit: %d runs, next %q, %v", MaxRunPage, len(whole.Runs), whole.Next, err)
	}
	many.n = MaxRunPage + 1
	if code, e := f.raw(t, "GET", "/v1/runs", tokA, ""); code != http.StatusBadRequest || e.Field != "limit" {
		t.Errorf("%d runs without limit: %d %+v, want a 400 naming limit", many.n, code, e)
	}
	many.n = 2*RunPage + 3
	all, err := a.List(ctx)
	if err != nil || len(all) != many.n || all[len(all)-1].ID != fmt.Sprintf("run-%06d", many.n-1) {
		t.Fatalf("List of %d runs: %d, %v", many.n, len(all), err)
	}
	many.ignoreAfter = true
	if _, err := a.List(ctx); err == nil {
		t.Error("List from a server that answers the first page again: no error")
	}
}

// TestCopyLogsWithoutSize: an answer that does not say the output's size
// (a proxy dropped X-Log-Size) is read to its end, a page at a time, not
// cut after the first page.
func TestCopyLogsWithoutSize(t *testing.T) {
	size := int64(2*logPage + 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		limit, _ := strconv.ParseInt(r.URL.Query().Get("limit"), 10, 64)
		from := min(off, size)
		b := make([]byte, min(limit, size-from))
		for i := range b {
			b[i] = logByte(from + int64(i))
		}
		w.Write(b)
	}))
	defer srv.Close()
	w := &checkWriter{}
	end, err := NewClient(srv.URL, tokA).CopyLogs(context.Background(), "run-x", 0, w)
	if err != nil || end != size || w.at != size || w.bad != 0 {
		t.Fatalf("CopyLogs without a size: to %d (%v), wrote %d of %d, first wrong byte at %d", end, err, w.at, size, w.bad-1)
	}
}

// TestAuditPageBytes: a page of large entries is cut once its payloads
// reach MaxAuditPageBytes, however many entries limit lets in, and next
// names the rest; the client reads them all.
func TestAuditPageBytes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	log := audit.NewLog(f.st)
	big := strings.Repeat("x", MaxAuditPageBytes/3+1)
	for i := range 4 {
		if err := log.AppendFor(ctx, "a", audit.KindTransfer, "", map[string]any{"i": i, "pad": big}); err != nil {
			t.Fatal(err)
		}
	}
	a := NewClient(f.srv.URL, tokA)
	var page AuditList
	if _, _, err := a.do(ctx, http.MethodGet, fmt.Sprintf("/v1/audit?limit=%d", MaxAuditPage), nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 3 || page.Next != page.Entries[2].Seq {
		t.Fatalf("a page of entries of %d bytes each: %d entries, next %d; want 3 and the third's seq", len(big), len(page.Entries), page.Next)
	}
	all, err := a.Audit(ctx, "")
	if err != nil || len(all) != 4 {
		t.Fatalf("every page: %d entries, %v", len(all), err)
	}
}

// TestRunsStreamPages: the runs stream reads at most a page of the
// tenant's runs, however many it has. Asked with pages=1 its list is the
// first page with next, and the client reads the rest with GET; without
// pages=1 a tenant with more runs than an answer without limit holds is
// answered 400 naming limit, as GET /v1/runs is. Before, the stream read
// and sent the whole list as one event: a tenant with many runs made the
// server build it whole for each stream, and the client refused a line
// that long.
func TestRunsStreamPages(t *testing.T) {
	many := &manyRuns{n: MaxRunPage + 1}
	f := newFixtureWith(t, fixtureOptions{Streams: Streams{FullList: 1 << 30},
		Hide: func(c Controller) Controller { many.Controller = c; return many }})
	if _, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1", tokA, ""); status != http.StatusBadRequest || e.Field != "limit" {
		t.Errorf("%d runs streamed without pages: %d %+v, want a 400 naming limit", many.n, status, e)
	}
	if _, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1&pages=2", tokA, ""); status != http.StatusBadRequest || e.Field != "pages" {
		t.Errorf("pages=2: %d %+v, want a 400 naming pages", status, e)
	}
	many.n = 2*RunPage + 3
	many.most.Store(0)
	rs, status, e := openSSE(t, f.srv.URL+"/v1/runs?follow=1&pages=1", tokA, "")
	if status != http.StatusOK {
		t.Fatalf("paged stream: %d %+v", status, e)
	}
	evs := rs.until(t, 10*time.Second, func(ev SSE) bool { return ev.Event != "" })
	ev := evs[len(evs)-1]
	var first RunList
	if err := json.Unmarshal([]byte(ev.Data), &first); err != nil || ev.Event != "runs" || len(first.Runs) != RunPage || first.Next != first.Runs[RunPage-1].ID {
		t.Fatalf("first event %q: %d runs, next %q (%v)", ev.Event, len(first.Runs), first.Next, err)
	}
	rs.close()
	stop := errors.New("seen")
	var got []*RunShown
	err := NewClient(f.srv.URL, tokA).FollowRuns(context.Background(), func(ev RunsStreamEvent) error {
		got = ev.List
		return stop
	})
	if err != stop || len(got) != many.n || got[0].ID != "run-000000" || got[len(got)-1].ID != fmt.Sprintf("run-%06d", many.n-1) {
		t.Fatalf("FollowRuns of %d runs: %d runs (%v)", many.n, len(got), err)
	}
	if most := many.most.Load(); most > RunPage+1 {
		t.Errorf("a page of %d runs was read for the paged stream and its client, want at most %d", most, RunPage+1)
	}
}

// TestLogPageReadInPieces: a page of the output, up to MaxLogPage, is
// opened once and read from the run a followChunk at a time, each written
// before the next is read, over a real connection: a request held the
// whole page in memory for as long as its client took to read it, so a
// tenant's hundred requests for its long output held gigabytes. The
// answer is the page, byte for byte, with its length.
func TestLogPageReadInPieces(t *testing.T) {
	long := &longLogs{size: MaxLogPage + 3<<20 + 7}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { long.Controller = c; return long }})
	for _, tc := range []struct {
		what        string
		off, length int64
		query       string
	}{
		{"a page of the most an answer holds", 11, MaxLogPage, fmt.Sprintf("offset=11&limit=%d", MaxLogPage)},
		{"the rest, without limit", long.size - MaxLogPage + 3, MaxLogPage - 3, fmt.Sprintf("offset=%d", long.size-MaxLogPage+3)},
		{"a short page", 100, 1000, "offset=100&limit=1000"},
		{"past the end", long.size + 5, 0, fmt.Sprintf("offset=%d&limit=10", long.size+5)},
	} {
		long.mu.Lock()
		long.read, long.opens = 0, 0
		long.mu.Unlock()
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/run-long/logs?"+tc.query, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		w := &checkWriter{at: tc.off}
		n, err := io.Copy(w, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n != tc.length || w.bad != 0 {
			t.Errorf("%s: %d, %d bytes of %d (%v), first wrong byte at %d", tc.what, resp.StatusCode, n, tc.length, err, w.bad-1)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.FormatInt(tc.length, 10) {
			t.Errorf("%s: Content-Length %q, want %d", tc.what, cl, tc.length)
		}
		if resp.Header.Get("X-Log-Size") != strconv.FormatInt(long.size, 10) {
			t.Errorf("%s: X-Log-Size %q, want %d", tc.what, resp.Header.Get("X-Log-Size"), long.size)
		}
		long.mu.Lock()
		read, opens := long.read, long.opens
		long.mu.Unlock()
		if read > followChunk || opens != 1 {
			t.Errorf("%s: the route opened the output %d times and read %d bytes of it at once, want once and at most %d", tc.what, opens, read, followChunk)
		}
	}
}

// runReads counts the store's reads of runs: of their owner and version,
// and of them whole.
type runReads struct {
	fixtureStore
	n atomic.Int64
}

func (c *runReads) RunVersionOf(ctx context.Context, id string) (string, int64, error) {
	c.n.Add(1)
	return c.fixtureStore.RunVersionOf(ctx, id)
}

func (c *runReads) GetRun(ctx context.Context, id string) (*store.Run, error) {
	c.n.Add(1)
	return c.fixtureStore.GetRun(ctx, id)
}

// TestLogPageReadsRunOnce: a page of a run's output longer than one read
// of it reads the run from the store once, however many pieces it is
// written in (it read it again for each 16 MiB piece, with its attempts
// and the site's output of them), and is the output as the controller
// keeps it, byte for byte.
func TestLogPageReadsRunOnce(t *testing.T) {
	reads := &runReads{}
	f := newFixtureWith(t, fixtureOptions{Store: func(st fixtureStore) fixtureStore { reads.fixtureStore = st; return reads }})
	ctx := context.Background()
	data, _ := json.Marshal(run.Data{Attempts: []run.Attempt{{N: 1, Site: "alpha"}, {N: 2, Site: "beta"}}})
	if _, _, err := f.st.CreateRun(ctx, &store.Run{ID: "run-long-out", Tenant: "a", Job: "j", State: string(run.Succeeded), Data: data}, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	// Attempt 1 kept 40 MiB of output (sparse: zeros), attempt 2 a line.
	logs := filepath.Join(f.dir, "logs", "run-long-out")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		t.Fatal(err)
	}
	big := int64(40 << 20)
	if err := os.WriteFile(filepath.Join(logs, "attempt-1.log"), []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(logs, "attempt-1.log"), big); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "attempt-2.log"), []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h1, h2 := "=== attempt 1 at alpha ===\n", "=== attempt 2 at beta ===\n"
	whole := h1 + "first\n" + strings.Repeat("\x00", int(big)-len("first\n")) + h2 + "second\n"
	for _, off := range []int64{0, 5, big - 3} {
		reads.n.Store(0)
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/runs/run-long-out/logs?offset=%d&limit=%d", f.srv.URL, off, MaxLogPage), nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(got) != whole[off:] || resp.Header.Get("X-Log-Size") != strconv.Itoa(len(whole)) {
			t.Fatalf("from %d: %d, %d bytes of %d, size %s (%v)", off, resp.StatusCode, len(got), len(whole)-int(off), resp.Header.Get("X-Log-Size"), err)
		}
		if n := reads.n.Load(); n > 2 {
			t.Errorf("a page from %d of %d bytes read the run %d times, want once (its owner and version, and once whole when this server has not read that version)", off, len(got), n)
		}
	}
	// Another tenant reads none of it.
	if code, _ := f.raw(t, "GET", "/v1/runs/run-long-out/logs?limit=10", tokB, ""); code != http.StatusNotFound {
		t.Errorf("another tenant's page: %d, want 404", code)
	}
}
