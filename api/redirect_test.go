package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestClientFollowsNoRedirect: the API never redirects, so a redirect is a
// hostile or misconfigured server (or something in front of it) steering
// the client elsewhere. Go's client keeps the Authorization header on a
// redirect to the same host name, whatever the port or scheme, so following
// it would hand the token to whatever listens there. The client refuses,
// and says why.
func TestClientFollowsNoRedirect(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Write([]byte(`{"tenant":"x"}`))
	}))
	defer other.Close()
	front := httptest.NewServer(http.RedirectHandler(other.URL+"/v1/healthz", http.StatusTemporaryRedirect))
	defer front.Close()
	for name, mk := range map[string]func() *Client{
		"NewClient": func() *Client { return NewClient(front.URL, tokA) },
		"NewPinnedClient": func() *Client {
			c, err := NewPinnedClient(front.URL, tokA, "")
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
	} {
		_, err := mk().Health(context.Background())
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("%s: a redirect to another address: %v, want a refusal", name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range leaked {
		if strings.Contains(h, tokA) {
			t.Fatalf("the token followed a redirect to another address: %q", h)
		}
	}
}
