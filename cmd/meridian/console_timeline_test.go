package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/console"
)

// TestConsoleTimelineEndlessNext: the run page's poll read the timeline a
// page at a time while the server named a next page not below the last
// event shown; a server that answered a next above it with no new events
// had the page ask for the same page again without end, and the run was
// never shown. The page now reads another page only when one moved on.
func TestConsoleTimelineEndlessNext(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	b := newBrowser(t)
	// Past this many pages the stub stops naming a next one, so that the
	// page without the guard ends too, and the count says it looped.
	const endless = 50
	var pages atomic.Int64
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.Handler())
	mux.HandleFunc("GET /v1/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"tenant":"default"}`))
	})
	mux.HandleFunc("GET /v1/runs/r1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"r1","tenant":"default","job":"j","state":"running","site":"","attempt":1,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}`))
	})
	mux.HandleFunc("GET /v1/runs/r1/events", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "" {
			// No stream: the page polls.
			http.Error(w, `{"error":{"code":"not-found","message":"no stream"}}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if pages.Add(1) > endless {
			w.Write([]byte(`{"events":[]}`))
			return
		}
		w.Write([]byte(`{"events":[],"next":5}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b.login(srv.URL, "stub-token", "runs/r1")
	b.waitJS("the run shown", `document.querySelector("#run-state") !== null`)
	if n := pages.Load(); n > 5 {
		t.Errorf("the page read the timeline %d times before it showed the run, want once per poll: a next with no new events read again", n)
	}
}
