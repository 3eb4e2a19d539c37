package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/api"
)

// endedRunServer is a server whose run r1 has ended (state): its first
// read of the output gives "first\n", and every later one fails, as a
// connection that broke would.
func endedRunServer(t *testing.T, state string) *httptest.Server {
	var mu sync.Mutex
	reads := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/runs/r1/logs":
			if r.URL.Query().Get("follow") != "" {
				http.Error(w, `{"error":{"message":"the log stream broke"}}`, http.StatusServiceUnavailable)
				return
			}
			mu.Lock()
			reads++
			n := reads
			mu.Unlock()
			if n > 1 {
				http.Error(w, `{"error":{"message":"lost the output"}}`, http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("X-Log-Size", "6")
			w.Write([]byte("first\n"))
		default:
			serveEndedRun(w, r, state)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// serveEndedRun answers a read of run r1, ended in state, and of its
// events (the follow stream ending it at once); any other path is not
// found.
func serveEndedRun(w http.ResponseWriter, r *http.Request, state string) {
	switch r.URL.Path {
	case "/v1/runs/r1":
		w.Write([]byte(`{"id":"r1","tenant":"t","job":"j","state":"` + state + `"}`))
	case "/v1/runs/r1/events":
		if r.URL.Query().Get("follow") != "" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("event: end\ndata: {\"state\":\"" + state + "\"}\n\n"))
			return
		}
		w.Write([]byte(`{"events":[]}`))
	default:
		http.NotFound(w, r)
	}
}

// TestLogsFollowReportsALostTail: `logs -f` and a followed run read the
// output one last time once the run has ended; when that read fails, the
// output printed (or redirected to a file) lacks its end, and the command
// says so with a non-zero exit instead of ending as if it were whole.
func TestLogsFollowReportsALostTail(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", t.TempDir()+"/none.yaml")
	srv := endedRunServer(t, "succeeded")
	out, code := runRoot(t, "logs", "r1", "-f", "--server", srv.URL, "--token", strings.Repeat("a", 40))
	if code == 0 || !strings.Contains(out, "lost the output") {
		t.Errorf("logs -f whose last read failed: exit %d\n%s", code, out)
	}

	srv = endedRunServer(t, "succeeded")
	var w, errw bytes.Buffer
	err := pollRun(context.Background(), &w, &errw, api.NewClient(srv.URL, strings.Repeat("a", 40)), "r1", 0, 0, false)
	if err == nil || !strings.Contains(err.Error(), "lost the output") {
		t.Errorf("a followed run whose last read failed: %v (%q)", err, errw.String())
	}

	// From the run's event stream, when the log stream broke and the read
	// that makes up for it fails too.
	srv = endedRunServer(t, "succeeded")
	w.Reset()
	errw.Reset()
	srv.Config.Handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/runs/r1/logs", nil))
	err = followRun(context.Background(), &w, &errw, api.NewClient(srv.URL, strings.Repeat("a", 40)), "r1")
	if err == nil || !strings.Contains(err.Error(), "lost the output") {
		t.Errorf("a followed run's stream whose last read failed: %v (%q)", err, errw.String())
	}
}
