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

// TestNonJSONSuccessIsNotHeard: an answer of 2xx counted as the server's
// before it was decoded, so whatever answered in the server's place with
// 200 and nothing, or a page of HTML (a captive portal), kept the
// agent's lease alive with no server behind it. Only an answer that
// decodes counts now; the rest is an error, retried as no answer.
func TestNonJSONSuccessIsNotHeard(t *testing.T) {
	for _, body := range []string{"", "<html>Sign in to the network</html>", `{"stop": tru`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(body))
		}))
		c := &client{base: srv.URL, run: "r", attempt: 1, token: "t", http: srv.Client()}
		var rep Reply
		err := c.do(context.Background(), http.MethodPost, RouteHeartbeat, nil, "", &rep)
		srv.Close()
		if err == nil {
			t.Errorf("a 200 answering %q: no error", body)
		} else if !unanswered(err) || permanent(err) {
			t.Errorf("a 200 answering %q: %v is not retried as no answer", body, err)
		}
		if c.heard.Load() != 0 {
			t.Errorf("a 200 answering %q counted as heard from the server", body)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := &client{base: srv.URL, run: "r", attempt: 1, token: "t", http: srv.Client()}
	var rep Reply
	if err := c.do(context.Background(), http.MethodPost, RouteHeartbeat, nil, "", &rep); err != nil || c.heard.Load() == 0 {
		t.Errorf("a JSON answer: %v, heard %d; want it heard", err, c.heard.Load())
	}
}
