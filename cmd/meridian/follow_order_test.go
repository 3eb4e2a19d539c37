package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meridian.dev/meridian/api"
)

// TestFollowShowsEachEventOnceInOrder: a server whose run timeline
// repeats or goes back had a followed run print events twice or out of
// order: the stream's events were passed on as sent, and the polling
// that took over when the stream failed took events by their place in
// each list. A stream out of order now ends the follow with its error
// (no polling after it), and polling shows only events past the last
// one shown.
func TestFollowShowsEachEventOnceInOrder(t *testing.T) {
	ev := func(seq int) string {
		return fmt.Sprintf(`{"runId":"r1","seq":%d,"time":"2026-12-06T10:00:00Z","kind":"k%d"}`, seq, seq)
	}
	list := func(seqs ...int) string {
		var parts []string
		for _, s := range seqs {
			parts = append(parts, ev(s))
		}
		return `{"events":[` + strings.Join(parts, ",") + `]}`
	}
	token := strings.Repeat("a", 40)

	// The stream repeats event 2.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/runs/r1/events" && r.URL.Query().Get("follow") != "":
			w.Header().Set("Content-Type", "text/event-stream")
			for _, s := range []int{1, 2, 2} {
				fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", s, ev(s))
			}
		case r.URL.Path == "/v1/runs/r1/events":
			w.Write([]byte(list(1, 2, 2, 3)))
		case r.URL.Path == "/v1/runs/r1/logs":
			w.Header().Set("X-Log-Size", "0")
		default:
			serveEndedRun(w, r, "succeeded")
		}
	}))
	defer srv.Close()
	var out, errw bytes.Buffer
	err := followRun(context.Background(), &out, &errw, api.NewClient(srv.URL, token), "r1")
	if err == nil || !strings.Contains(err.Error(), "came after event") {
		t.Errorf("a stream that repeats an event: %v; want the follow ended naming both events", err)
	}
	if n := strings.Count(errw.String(), "k2"); n != 1 {
		t.Errorf("event 2 shown %d times:\n%s", n, errw.String())
	}

	// Polling over lists that repeat and go back.
	lists := []string{list(1, 2), list(1, 2, 1, 3), list(3, 2, 4)}
	reads := 0
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/runs/r1/events":
			w.Write([]byte(lists[min(reads, len(lists)-1)]))
			reads++
		case "/v1/runs/r1/logs":
			w.Header().Set("X-Log-Size", "0")
		case "/v1/runs/r1":
			state := "running"
			if reads >= len(lists) {
				state = "succeeded"
			}
			w.Write([]byte(`{"id":"r1","tenant":"t","job":"j","state":"` + state + `"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv2.Close()
	old := followEvery
	followEvery = 0
	defer func() { followEvery = old }()
	errw.Reset()
	if err := pollRun(context.Background(), &out, &errw, api.NewClient(srv2.URL, token), "r1", 0, 0, false); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(errw.String()), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[1], "k") {
			kinds = append(kinds, f[1])
		}
	}
	if got := strings.Join(kinds, ","); got != "k1,k2,k3,k4" {
		t.Errorf("polled events shown %s; want k1,k2,k3,k4 each once, in order\n%s", got, errw.String())
	}
}
