package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a buffer the server's request log writes to while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClientGoneIsNoFault: a client that closes its connection while the
// route works (a plan it stopped waiting for) cancels the request's
// context, and the route's error wraps context.Canceled. That was
// answered as the server's fault: status 500 and an error line with a
// fault id in the log for the operator to chase, for every client that
// gave up. A cancellation the client did not cause is still a fault.
func TestClientGoneIsNoFault(t *testing.T) {
	f := newFixture(t)
	var logs lockedBuffer
	h := New(f.c, Options{Tokens: f.st, Audit: f.st, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	started := make(chan struct{}, 1)
	h.Add(Route{Method: "GET", Path: "/v1/test/wait", Handler: func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
		fail(w, r.Context().Err())
	}})
	h.Add(Route{Method: "GET", Path: "/v1/test/inner", Handler: func(w http.ResponseWriter, r *http.Request) {
		// A context the server cancelled itself: not the client's doing.
		ctx, cancel := context.WithCancel(r.Context())
		cancel()
		fail(w, ctx.Err())
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/test/wait", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokA)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the route did not start")
	}
	cancel()
	<-done
	var line string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "route=\"GET /v1/test/wait\"") {
				line = l
			}
		}
		if line != "" {
			break
		}
	}
	if line == "" {
		t.Fatalf("no request log line for the cancelled request: %q", logs.String())
	}
	if strings.Contains(line, "fault=") || !strings.Contains(line, "level=INFO") || !strings.Contains(line, "status=503") || !strings.Contains(line, "canceled=") {
		t.Errorf("a request its client cancelled is logged as %q, want status 503 at INFO, marked canceled, without a fault", line)
	}

	req, _ = http.NewRequest("GET", srv.URL+"/v1/test/inner", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("a cancellation of the server's own: status %d, want 500 (a fault)", resp.StatusCode)
	}
}
