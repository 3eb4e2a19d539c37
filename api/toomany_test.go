package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
