package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// rewrittenStreamServer serves run-000001 whose row is rewritten under
// its streams: each stream sends it first as written, then marks it
// changed outside Meridian with why (as the server does once its row was
// rewritten in the database without the audit key), sends it again
// marked with the same reason as it ends, and, on the run's own stream,
// once more with why2 (a second thing found changed). GET answers it
// marked once the stream has sent the mark.
func rewrittenStreamServer(t *testing.T, why, why2 string) *httptest.Server {
	t.Helper()
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var rewritten atomic.Bool
	shownAs := func(state run.State, reason string) *api.RunShown {
		r := &api.RunShown{Run: &run.Run{ID: "run-000001", Tenant: "a", Job: "train", State: state, Site: "alpha", CreatedAt: t0, UpdatedAt: t0}}
		if reason != "" {
			r.ChangedOutsideMeridian, r.ChangedOutsideMeridianReason = true, reason
		}
		return r
	}
	now := func() *api.RunShown {
		if rewritten.Load() {
			return shownAs(run.Running, why)
		}
		return shownAs(run.Running, "")
	}
	data := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Error(err)
		}
		return string(b)
	}
	sse := func(w http.ResponseWriter, r *http.Request, events ...string) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, ev := range events {
			if ev == "" { // the row rewritten under the stream
				fl.Flush()
				time.Sleep(20 * time.Millisecond)
				rewritten.Store(true)
				continue
			}
			fmt.Fprint(w, ev)
			fl.Flush()
		}
		<-r.Context().Done() // the runs stream has no end
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		follow := r.URL.Query().Get("follow") == "1"
		switch {
		case r.URL.Path == "/v1/runs" && follow:
			sse(w, r,
				"event: runs\ndata: "+data(api.RunShownList{Runs: []*api.RunShown{shownAs(run.Running, "")}})+"\n\n",
				"",
				"event: run\ndata: "+data(shownAs(run.Running, why))+"\n\n",
				"event: run\ndata: "+data(shownAs(run.Succeeded, why))+"\n\n")
		case r.URL.Path == "/v1/runs/run-000001/events" && follow:
			ev := store.Event{RunID: "run-000001", Seq: 1, Time: t0, Kind: "state", From: "queued", To: "running", Reason: "started"}
			sse(w, r,
				"event: run\ndata: "+data(shownAs(run.Running, ""))+"\n\n",
				"id: 1\nevent: event\ndata: "+data(ev)+"\n\n",
				"",
				"event: run\ndata: "+data(shownAs(run.Running, why))+"\n\n",
				"event: run\ndata: "+data(shownAs(run.Succeeded, why))+"\n\n",
				"event: run\ndata: "+data(shownAs(run.Succeeded, why2))+"\n\n",
				"event: end\ndata: "+data(api.StreamEnd{State: run.Succeeded})+"\n\n")
		case r.URL.Path == "/v1/runs":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(api.RunShownList{Runs: []*api.RunShown{now()}})
		case r.URL.Path == "/v1/runs/run-000001":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(now())
		case r.URL.Path == "/v1/runs/run-000001/logs":
			w.Header().Set("X-Log-Size", "0")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// warnings is the WARNING lines of out.
func warnings(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "WARNING") {
			got = append(got, l)
		}
	}
	return got
}

// TestRunChangedOutsideMeridianWarnsWhileStreamed: a run whose row is
// rewritten while get runs --watch and run --follow read its stream was
// sent marked changed outside Meridian, but the client decoded the
// stream's runs as run.Run and dropped the mark, so a user watching the
// run never saw the WARNING line that get runs and describe run print.
// Both views now print that line, escaped, when the streamed run carries
// the mark: once for each reason, not at each event that repeats it.
func TestRunChangedOutsideMeridianWarnsWhileStreamed(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	const why = "run run-000001's documents were changed outside Meridian: \x1b[2Jgone\nforged"
	const why2 = why + "; its placement too"
	escaped, escaped2 := shown(why), shown(why2)
	if strings.ContainsAny(escaped, "\x1b\n") {
		t.Fatalf("shown left the escape in %q", escaped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// get runs --watch, the run named: the watch ends with it.
	srv := rewrittenStreamServer(t, why, why2)
	out, errOut := watchRun(t, ctx, srv.URL)
	want := []string{"WARNING: run run-000001's record was changed outside Meridian: " + escaped}
	if got := warnings(errOut.String()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("get --watch: warnings %q, want %q\nstdout:\n%s", got, want, out.String())
	}
	if len(rowsWith(out.String(), "run-000001", "succeeded")) != 1 {
		t.Errorf("get --watch: no row for the run's end:\n%s", out.String())
	}
	if strings.Contains(out.String()+errOut.String(), "\x1b[2J") {
		t.Errorf("get --watch: the reason's escape reached the terminal")
	}

	// run --follow: the run's own stream.
	srv = rewrittenStreamServer(t, why, why2)
	out.Reset()
	errOut.Reset()
	c := api.NewClient(srv.URL, strings.Repeat("a", 40))
	if err := followRun(ctx, out, errOut, c, "run-000001"); err != nil {
		t.Fatalf("run --follow: %v\n%s", err, errOut.String())
	}
	want = []string{
		"WARNING: this run's record was changed outside Meridian: " + escaped,
		"WARNING: this run's record was changed outside Meridian: " + escaped2,
	}
	if got := warnings(errOut.String()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("run --follow: warnings %q, want %q", got, want)
	}
	if !strings.Contains(errOut.String(), "run run-000001 succeeded") {
		t.Errorf("run --follow: the run's end is not printed:\n%s", errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), "\x1b[2J") {
		t.Errorf("run --follow: the reason's escape reached the terminal")
	}
}

// TestRunChangedOutsideMeridianWarnsWhileWatchPolls: get runs --watch
// from a server that gives no stream asks for the runs again and again;
// it read them without their mark, so a run whose row was rewritten after
// the table was printed was never warned of. It now warns once, when the
// server first shows the run marked.
func TestRunChangedOutsideMeridianWarnsWhileWatchPolls(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	old := watchEvery
	watchEvery = 10 * time.Millisecond
	defer func() { watchEvery = old }()
	const why = "run run-000001's documents were changed outside Meridian: \x1b[2Jgone"
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json") // follow=1 too: a server from before streams
		if r.URL.Path == "/v1/runs" {
			io.WriteString(w, `{"runs":[]}`)
			return
		}
		if r.URL.Path != "/v1/runs/run-000001" {
			http.NotFound(w, r)
			return
		}
		// As written for the table; then rewritten, marked, for three
		// polls; then ended, still marked.
		n := gets.Add(1)
		sr := &api.RunShown{Run: &run.Run{ID: "run-000001", Tenant: "a", Job: "train", State: run.Running, Site: "alpha", CreatedAt: t0, UpdatedAt: t0}}
		if n > 1 {
			sr.ChangedOutsideMeridian, sr.ChangedOutsideMeridianReason = true, why
		}
		if n > 4 {
			sr.State = run.Succeeded
		}
		json.NewEncoder(w).Encode(sr)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut := watchRun(t, ctx, srv.URL)
	want := []string{"WARNING: run run-000001's record was changed outside Meridian: " + shown(why)}
	if got := warnings(errOut.String()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("get --watch polling: warnings %q, want %q\nstdout:\n%s", got, want, out.String())
	}
	if strings.Contains(out.String()+errOut.String(), "\x1b[2J") {
		t.Errorf("get --watch polling: the reason's escape reached the terminal")
	}
}

// watchRun runs `get runs run-000001 --watch` against the server at url
// and returns what it wrote to its output and its error output.
func watchRun(t *testing.T, ctx context.Context, url string) (out, errOut *bytes.Buffer) {
	t.Helper()
	out, errOut = new(bytes.Buffer), new(bytes.Buffer)
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs([]string{"get", "runs", "run-000001", "--watch", "--server", url, "--token", strings.Repeat("a", 40)})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("get --watch: %v\n%s", err, errOut.String())
	}
	return out, errOut
}
