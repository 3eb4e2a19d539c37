package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClientErrorMessageBounded: an error answer's text becomes the error
// a CLI prints, so a huge one (a proxy's page, a hostile server) is cut to
// a bounded message that says how long it was, not printed whole.
func TestClientErrorMessageBounded(t *testing.T) {
	huge := strings.Repeat("<p>bad gateway</p>", 1<<16)
	for name, body := range map[string]string{
		"text": huge,
		"json": `{"error":{"message":"` + huge + `"}}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(body))
		}))
		_, err := NewClient(srv.URL, tokA).Health(context.Background())
		srv.Close()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if n := len(err.Error()); n > 2048 {
			t.Errorf("%s: error message of %d bytes", name, n)
		}
		if !strings.Contains(err.Error(), "bad gateway") || !strings.Contains(err.Error(), "bytes in all") {
			t.Errorf("%s: %.300s", name, err)
		}
	}
}
