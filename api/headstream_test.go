package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// TestHeadOfAStreamRefused: HEAD of a stream (a Follow route asked with
// follow=1 or Accept: text/event-stream) is answered 405 at once, and
// holds none of the tenant's stream slots. Before, the mux let HEAD
// through as GET and the stream ran with its writes thrown away: it
// answered 200, kept a slot, a goroutine and a store read each poll
// until the run ended or six hours passed, and kept the connection,
// which the client took for free, so that its next request on it hung;
// and a stream whose client had sent that request never learnt that the
// client had gone, and held its slot after the connection was closed.
// HEAD of an ordinary page is still answered as its GET.
func TestHeadOfAStreamRefused(t *testing.T) {
	f := newFixture(t)
	// Streams left running (a HEAD served as before) end before the
	// server closes, which waits for their connections.
	t.Cleanup(f.h.EndStreams)
	ctx := context.Background()
	r, err := NewClient(f.srv.URL, tokA).Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, accept string
		want         int
	}{
		{"/v1/runs?follow=1", "", http.StatusMethodNotAllowed},
		{"/v1/runs", "text/event-stream", http.StatusMethodNotAllowed},
		{"/v1/runs/" + r.ID + "/events?follow=1", "", http.StatusMethodNotAllowed},
		{"/v1/runs/" + r.ID + "/logs?follow=1", "", http.StatusMethodNotAllowed},
		{"/v1/runs?limit=10", "", http.StatusOK},
		{"/v1/runs/" + r.ID + "/events", "", http.StatusOK},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodHead, f.srv.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		// A transport of its own: the connection it keeps alive is the
		// one the next request takes.
		tr := &http.Transport{}
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("HEAD %s: %v", c.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("HEAD %s (Accept %q): %d, want %d", c.path, c.accept, resp.StatusCode, c.want)
		}
		if c.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET" {
			t.Errorf("HEAD %s: Allow %q, want GET", c.path, resp.Header.Get("Allow"))
		}
		// The connection stays open (kept alive): a stream running
		// behind it would still hold its slot.
		if n := f.h.OpenStreams("a"); n != 0 {
			t.Errorf("after HEAD %s (Accept %q), tenant a holds %d streams", c.path, c.accept, n)
		}
		// The connection is fit for the next request.
		next, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/healthz", nil)
		next.Header.Set("Authorization", "Bearer "+tokA)
		if resp, err := client.Do(next); err != nil {
			t.Errorf("GET on the connection of HEAD %s (Accept %q): %v", c.path, c.accept, err)
		} else {
			resp.Body.Close()
		}
		// Closed before the server, which waits for its connections.
		tr.CloseIdleConnections()
	}
}
