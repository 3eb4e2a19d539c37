package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
)

// rowsWith returns the lines of out that hold all of parts.
func rowsWith(out string, parts ...string) []string {
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		all := l != ""
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			rows = append(rows, l)
		}
	}
	return rows
}

// TestGetWatch: get runs --watch prints a run's rows as it goes, to its
// end, from the tenant's runs stream of a real `meridian serve` without
// asking for the list or the run again; and the same by polling from a
// server that gives no stream (as one from before streams answers
// follow=1 with the plain list). Named, the watch ends with the run;
// unnamed, it shows a run submitted after it started.
func TestGetWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p, _, token, rp := proxiedServer(t)
	old := watchEvery
	watchEvery = 50 * time.Millisecond
	defer func() { watchEvery = old }()
	for _, tc := range []struct {
		name   string
		stream bool
	}{{"stream", true}, {"no stream", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWatchProxy(rp, tc.stream)
			defer srv.Close()
			reads, streams := &srv.reads, &srv.streams
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c := api.NewClient(srv.URL, token)
			submit := func() *run.Run {
				t.Helper()
				job := demoJob(t, p.bin, p.state, 120, 20, "5ms") // long enough to be running when the watch starts
				r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			watch := func(ctx context.Context, w *syncBuffer, ids ...string) error {
				return getWatch(ctx, w, srv.URL, token, ids...)
			}

			// Named: the watch ends by itself when the run does.
			reads.Store(0)
			streams.Store(0)
			r := submit()
			named := &syncBuffer{}
			if err := watch(ctx, named, r.ID); err != nil {
				t.Fatalf("%v\n%s", err, named.String())
			}
			lines := strings.Split(strings.TrimSpace(named.String()), "\n")
			if len(lines) < 3 || !strings.HasPrefix(lines[0], "ID") {
				t.Fatalf("want the header, the run's row and a row for each change, got:\n%s", named.String())
			}
			last := lines[len(lines)-1]
			if !strings.Contains(last, r.ID) || !strings.Contains(last, "succeeded") {
				t.Errorf("the last row is %q, want the run succeeded", last)
			}
			for _, l := range lines[1:] {
				if !strings.Contains(l, r.ID) {
					t.Errorf("a row of another run: %q", l)
				}
			}
			if n := len(uniqueLines(lines[1:])); n != len(lines)-1 {
				t.Errorf("a row printed twice (%d rows, %d different):\n%s", len(lines)-1, n, named.String())
			}
			checkColumns(t, lines)
			checkReads(t, tc.stream, reads.Load(), streams.Load())

			// Unnamed: every run, a new one included, until interrupted.
			reads.Store(0)
			streams.Store(0)
			wctx, stop := context.WithCancel(ctx)
			all := &syncBuffer{}
			done := make(chan error, 1)
			go func() { done <- watch(wctx, all) }()
			// Wait for the table before submitting: a run submitted before
			// the first read would be in it, not a change.
			waitRows := func(parts ...string) { waitRow(t, all, done, 10*time.Millisecond, parts...) }
			waitRows(r.ID)
			r2 := submit()
			waitRows(r2.ID, "succeeded")
			stop()
			if err := <-done; err != nil {
				t.Errorf("interrupted, the watch returned %v", err)
			}
			if rows := rowsWith(all.String(), r2.ID); len(rows) < 2 {
				t.Errorf("want the new run's first row and its changes, got %d rows:\n%s", len(rows), all.String())
			}
			checkReads(t, tc.stream, reads.Load(), streams.Load())
		})
	}
}

// getWatch runs `meridian get runs [ids] --watch` in-process against
// server until it ends or ctx does, its output to w.
func getWatch(ctx context.Context, w io.Writer, server, token string, ids ...string) error {
	root := newRootCmd()
	root.SetOut(w)
	root.SetErr(w)
	root.SetArgs(append(append([]string{"get", "runs"}, ids...), "--watch", "--server", server, "--token", token, "--color", "never"))
	return root.ExecuteContext(ctx)
}

// BenchmarkGetWatch: how long `get runs --watch` takes to print a run's
// cancellation after the cancel is answered, from a real `meridian
// serve`: by the tenant's runs stream, and by asking every second as
// before it (and as it still does without a stream). The state printed is
// the run's, so the time includes the controller stopping the attempt.
func BenchmarkGetWatch(b *testing.B) {
	p, base, token, rp := proxiedServer(b)
	noStream := newWatchProxy(rp, false)
	defer noStream.Close()
	job := demoJob(b, p.bin, p.state, 1000000, 1000, "50ms")
	for _, tc := range []struct{ name, server string }{{"stream", base}, {"poll-1s", noStream.URL}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := api.NewClient(base, token)
			out := &syncBuffer{}
			done := make(chan error, 1)
			go func() { done <- getWatch(ctx, out, tc.server, token) }()
			wait := func(parts ...string) { waitRow(b, out, done, 200*time.Microsecond, parts...) }
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
				if err != nil {
					b.Fatal(err)
				}
				wait(r.ID, "running")
				// A cancel at a random moment of the poll's second.
				time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
				if _, err := c.Cancel(ctx, r.ID); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				wait(r.ID, "cancel")
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "ms-max")
		})
	}
}

// watchProxy passes requests on to a server and counts the plain reads of
// the run list or of a run, and the streams of the list, asked through it;
// without stream it strips follow=1 and Accept from those, as a server
// from before streams ignores them.
type watchProxy struct {
	*httptest.Server
	reads, streams atomic.Int64
}

func newWatchProxy(rp *httputil.ReverseProxy, stream bool) *watchProxy {
	wp := &watchProxy{}
	wp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/runs") && !strings.HasSuffix(r.URL.Path, "/events") && !strings.HasSuffix(r.URL.Path, "/logs") {
			if !stream {
				q := r.URL.Query()
				q.Del("follow")
				r.URL.RawQuery = q.Encode()
				r.Header.Del("Accept")
			}
			if r.URL.Query().Get("follow") == "1" {
				wp.streams.Add(1)
			} else {
				wp.reads.Add(1)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	return wp
}

// waitRow waits, looking every poll, until out has a line that holds all
// of parts; the watch writing it ending first (done), or a minute passing,
// fails tb.
func waitRow(tb testing.TB, out *syncBuffer, done <-chan error, poll time.Duration, parts ...string) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); len(rowsWith(out.String(), parts...)) == 0; time.Sleep(poll) {
		select {
		case err := <-done:
			tb.Fatalf("the watch ended: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no row with %q after a minute:\n%s", parts, out.String())
		}
	}
}

// checkReads: with a stream, the watch read the list once before the
// stream and nothing else; without one, it polled.
func checkReads(t *testing.T, stream bool, reads, streams int64) {
	t.Helper()
	switch {
	case stream && (reads != 1 || streams < 1):
		t.Errorf("with the stream: %d plain reads and %d streams, want 1 read (the table) and a stream", reads, streams)
	case !stream && reads < 2:
		t.Errorf("without the stream: %d plain reads, want the table's and polls", reads)
	}
}

// checkColumns: each row's cells start no left of the header's: the
// rows a watch prints keep the table's columns, widened only for a wider
// cell, never narrowed.
func checkColumns(t *testing.T, lines []string) {
	t.Helper()
	cells := regexp.MustCompile(`\S+`)
	head := cells.FindAllStringIndex(lines[0], -1)
	for _, l := range lines[1:] {
		got := cells.FindAllStringIndex(l, -1)
		if len(got) != len(head) {
			t.Errorf("%d cells in %q, %d in the header", len(got), l, len(head))
			continue
		}
		for i := range got {
			if got[i][0] < head[i][0] {
				t.Errorf("column %d starts at %d in %q, at %d in the header %q", i, got[i][0], l, head[i][0], lines[0])
				break
			}
		}
	}
}

func uniqueLines(lines []string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lines {
		m[l] = true
	}
	return m
}
