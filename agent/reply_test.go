package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServerErrorTextIsBounded: the agent puts what the server (or
// whatever answers in its place: a proxy, a captive portal) said with a
// failure into its error, and logs that error on every retry of a
// checkpoint report, into the site's log and the output shipped to the
// server. A body of a megabyte made each such line a megabyte, and a few
// retries filled the output the agent holds for the server. The text is
// now cut to a few hundred bytes, for every kind of failure.
func TestServerErrorTextIsBounded(t *testing.T) {
	huge := strings.Repeat("x", maxReply+10)
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusUnauthorized, http.StatusGone} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			w.Write([]byte(huge))
		}))
		c := &client{base: srv.URL, run: "r", attempt: 1, token: "t", http: srv.Client()}
		err := c.do(context.Background(), http.MethodPost, RouteCheckpoint, nil, "", nil)
		srv.Close()
		if err == nil {
			t.Fatalf("status %d: no error", code)
		}
		if n := len(err.Error()); n > 1024 {
			t.Errorf("status %d: the error is %d bytes; want the server's text cut to at most a few hundred", code, n)
		}
		if !strings.Contains(err.Error(), "xxxx") {
			t.Errorf("status %d: the error %.100q lost the server's text", code, err.Error())
		}
	}
}
