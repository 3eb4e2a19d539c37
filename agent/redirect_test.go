package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestAgentFollowsNoRedirect: the attempt's credential goes to the server
// only. A redirect (from a hostile server or something in front of it) to
// another port on the same host kept the Authorization header in Go's
// client, handing the credential to whatever listens there.
func TestAgentFollowsNoRedirect(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		http.NotFound(w, r)
	}))
	defer other.Close()
	front := httptest.NewServer(http.RedirectHandler(other.URL+"/elsewhere", http.StatusTemporaryRedirect))
	defer front.Close()
	cfg := Config{Server: front.URL, Run: "run-1", Attempt: 1, Token: "attempt-credential", WorkDir: t.TempDir(),
		Stdout: io.Discard, Stderr: io.Discard, Patience: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg); err == nil {
		t.Error("an agent whose server only redirects ran")
	}
	if n := leaked.Load(); n > 0 {
		t.Errorf("the attempt's credential followed %d redirects to another address", n)
	}
}
