package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientAsksAgainAfterTooMany: an answer 429 (a tenant's rate, or its
// plans under way) turned the request away before the server did anything
// with it: the client asks again after the Retry-After the server names,
// a few times, where a script running a few submissions at once failed.
func TestClientAsksAgainAfterTooMany(t *testing.T) {
	var n atomic.Int32
	refuse := atomic.Int32{}
	refuse.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if refuse.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":"too_many_plans"}`, http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "tok")
	var out map[string]bool
	if _, _, err := c.do(context.Background(), http.MethodPost, "/v1/plans", map[string]string{"x": "y"}, &out); err != nil || !out["ok"] {
		t.Fatalf("after two 429s: %v %v", out, err)
	}
	if got := n.Load(); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
	// A server that keeps refusing is answered with its refusal after a
	// few tries.
	refuse.Store(100)
	n.Store(0)
	start := time.Now()
	_, _, err := c.do(context.Background(), http.MethodGet, "/v1/runs", nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || n.Load() != tooManyTries || time.Since(start) > 5*time.Second {
		t.Errorf("a server that keeps answering 429: %v after %d requests in %s, want its 429 after %d", err, n.Load(), time.Since(start), tooManyTries)
	}
}

// TestClientVerifyTooSoonSaysWhen: a verification asked for within the
// tenant's rest after its last one is answered 429 verify_too_soon with
// the rest left (up to minutes) in Retry-After. The client waited out
// three tries of up to 30 s each, a second `meridian audit verify` sat
// for 90 s and then still failed; it now fails at once, saying when to
// try again. A rest of a few seconds is still waited out.
func TestClientVerifyTooSoonSaysWhen(t *testing.T) {
	var n atomic.Int32
	var retryAfter atomic.Value
	retryAfter.Store("47")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", retryAfter.Load().(string))
			writeErr(w, http.StatusTooManyRequests, "verify_too_soon", "", "tenant t verified the whole audit chain lately")
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "tok")
	// A guard only: the client that waited would be cut off here.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Verify(ctx)
	var ts *TooSoonError
	var se *StatusError
	if !errors.As(err, &ts) || !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || se.Err.Code != "verify_too_soon" {
		t.Fatalf("a verification refused for 47 s: %v, want a TooSoonError over the server's 429", err)
	}
	if ts.Wait != 47*time.Second || !strings.Contains(err.Error(), "try again in 47s") {
		t.Errorf("the error says %q (wait %s), want it to say to try again in 47s", err, ts.Wait)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d requests, want the one refused", got)
	}
	// A rest of no more than a few seconds is waited out, and the
	// verification asked for again.
	n.Store(0)
	retryAfter.Store("0")
	if res, err := c.Verify(ctx); err != nil || !res.OK || n.Load() != 2 {
		t.Errorf("a verification refused for 0 s: %+v %v after %d requests, want it asked again and answered", res, err, n.Load())
	}
}
