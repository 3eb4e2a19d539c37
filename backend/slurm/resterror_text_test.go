package slurm

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/textsafe"
)

// hostileErrorWords are words a hostile slurmrestd may put in an error
// answer: a terminal escape, a line break, a C1 control, bidirectional
// overrides and isolates, the line and paragraph separators, a byte that
// is not UTF-8, and a zero-width space (which textsafe lets through).
var hostileErrorWords = []string{
	"clear\x1b[2J\x1b]0;owned\x07",
	"line\nforged: ok",
	"c1\u0085next\u009bline",
	"user \u202eeman\u202c admin",
	"iso\u2066late\u2069d",
	"sep\u2028ara\u2029tor",
	"bad\xff\xfebytes",
	"zero\u200bwidth",
}

// TestRESTErrorEscapesSiteText: the words of slurmrestd's errors list were
// repeated as sent, and a body that is not Slurm's JSON had only its C0
// controls and DEL turned to spaces: a terminal escape, a line break, a
// C1 control, a bidirectional override or a line separator from a hostile
// slurmrestd reached the log and a run's reason as itself. The message
// now escapes what textsafe flags, as every other place that shows a
// site's text does.
func TestRESTErrorEscapesSiteText(t *testing.T) {
	for _, w := range hostileErrorWords {
		want := textsafe.Escape(w)
		for _, tc := range []struct {
			name string
			err  *restError
		}{
			{"error", newRESTError("GET", "/p", 500, []apiError{{Error: w, Number: 5004}}, nil)},
			{"description", newRESTError("GET", "/p", 200, []apiError{{Error: "e", Description: w}}, nil)},
		} {
			msg := tc.err.Error()
			if i := textsafe.Index(msg); i >= 0 {
				t.Errorf("%s %q: message holds %q unescaped: %q", tc.name, w, msg[i:min(i+4, len(msg))], msg)
			}
			if !strings.Contains(msg, want) {
				t.Errorf("%s %q: message %q does not say %q", tc.name, w, msg, want)
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/w/"))
		if err != nil || i < 0 || i >= len(hostileErrorWords) {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(hostileErrorWords[i]))
	}))
	defer srv.Close()
	c, err := newRESTClient(srv.URL, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.token = nil
	c.retries = 0
	for i, w := range hostileErrorWords {
		err := c.call(t.Context(), http.MethodGet, "/w/"+strconv.Itoa(i), nil, nil)
		re, ok := asRESTError(err)
		if !ok {
			t.Fatalf("body %q: %v; want a restError", w, err)
		}
		msg := re.Error()
		if i := textsafe.Index(msg); i >= 0 {
			t.Errorf("body %q: message holds %q unescaped: %q", w, msg[i:min(i+4, len(msg))], msg)
		}
		if !strings.Contains(msg, textsafe.Escape(w)) {
			t.Errorf("body %q: message %q does not say %q", w, msg, textsafe.Escape(w))
		}
	}
}

// TestRESTErrorBodyTextKeepsNoPartOfTheToken: an error answer that is
// not Slurm's JSON was cut to its first 200 bytes before the token was
// removed from it, so a token that a server echoed across byte 200 left
// its start in the message. The token is now removed first.
func TestRESTErrorBodyTextKeepsNoPartOfTheToken(t *testing.T) {
	const secret = "tok.en-secret-w4-0123456789"
	tokPath := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(tokPath, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(strings.Repeat("a", maxErrorBodyText-8) + r.Header.Get("X-SLURM-USER-TOKEN")))
	}))
	defer srv.Close()
	c, err := newRESTClient(srv.URL, tokPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.retries = 0
	err = c.call(t.Context(), http.MethodGet, "/x", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "aaaa") {
		t.Fatalf("call = %v; want an error quoting the answer", err)
	}
	if strings.Contains(err.Error(), secret[:6]) {
		t.Errorf("the error keeps part of the token: %q", err)
	}
}
