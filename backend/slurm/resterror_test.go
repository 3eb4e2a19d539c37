package slurm

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// bigRESTError is an answer of status 200 that lists errors filling most
// of maxBody, as a hostile or broken slurmrestd may send.
func bigRESTError() *restError {
	word := strings.Repeat("x", 1<<10)
	errs := make([]apiError, (maxBody-(64<<10))/(len(word)+32))
	for i := range errs {
		errs[i] = apiError{Error: word, Description: "d", Number: 5004}
	}
	return &restError{method: "GET", path: "/slurm/v0.0.38/jobs", status: 200, errs: errs}
}

// TestRESTErrorBuildsNoMoreThanItSays: restError.Error joined every listed
// error, megabytes of them, before cutting the message to maxErrorText;
// the error is built at every poll that meets such an answer. It now stops
// building once it has more than it says.
func TestRESTErrorBuildsNoMoreThanItSays(t *testing.T) {
	e := bigRESTError()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	msg := e.Error()
	runtime.ReadMemStats(&after)
	if built := after.TotalAlloc - before.TotalAlloc; built > 256<<10 {
		t.Errorf("Error allocated %d bytes for a message of %d; want a bound of the message's size, not the answer's", built, len(msg))
	}
	if !strings.HasPrefix(msg, "GET /slurm/v0.0.38/jobs: HTTP 200: xxx") || !strings.HasSuffix(msg, "…") || len(msg) > maxErrorText+100 {
		t.Errorf("message: %d bytes, %q…; want the start of the listed errors, cut", len(msg), msg[:min(len(msg), 80)])
	}
}

// TestRESTErrorSaysWhatItSaid: the message is what joining every listed
// error and cutting it said, for errors long and short.
func TestRESTErrorSaysWhatItSaid(t *testing.T) {
	long := strings.Repeat("é", maxErrorText)
	for _, errs := range [][]apiError{
		{{Error: "a", Description: "b", Number: 1}, {Error: "c", Code: 2}},
		{{Error: long, Description: long}},
		{{Error: "short"}, {Error: long + "x", Description: long + "y"}},
		{{Error: strings.Repeat("z", maxErrorText-3)}, {Error: "after"}},
		{{Error: strings.Repeat("z", maxErrorText-6), Number: 7}},
		{{}, {}, {Error: "third"}},
	} {
		var parts []string
		for _, a := range errs {
			parts = append(parts, a.String())
		}
		want := strings.Join(parts, "; ")
		if len(want) > maxErrorText {
			want = strings.ToValidUTF8(want[:maxErrorText], "") + "…"
		}
		want = "POST /p: HTTP 500: " + want
		if got := newRESTError("POST", "/p", 500, errs, nil).Error(); got != want {
			t.Errorf("Error() = %q\nwant      %q", got, want)
		}
	}
}

func BenchmarkRESTErrorOfABigAnswer(b *testing.B) {
	e := bigRESTError()
	b.ReportAllocs()
	for range b.N {
		_ = e.Error()
	}
}

// TestRESTErrorKeepsABoundedList: an answer listing 100,000 errors, the
// first of them a megabyte long, made an error that held the whole list
// (megabytes, as long as the error lived: a run's reason, a poll's
// failure). The error now keeps the start of the list, each entry cut to
// what it can say, the count of the rest, and the numbers it acts on,
// from any answer that lists errors: of status 200, of a list, or of
// another status.
func TestRESTErrorKeepsABoundedList(t *testing.T) {
	const secret = "tok.en-secret-s25"
	dir := t.TempDir()
	tokPath := filepath.Join(dir, "jwt")
	if err := os.WriteFile(tokPath, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	answer := func(n, long int) []byte {
		var b bytes.Buffer
		b.WriteString(`{"meta":{},"jobs":[],"errors":[`)
		// The token lies across the point where the first entry is cut.
		fmt.Fprintf(&b, `{"error":"%s%s%s","error_number":5004}`, strings.Repeat("a", maxErrorText-4), secret, strings.Repeat("b", long))
		for i := 1; i < n-1; i++ {
			b.WriteString(`,{"error":"e","description":"` + secret + `","error_number":5004}`)
		}
		b.WriteString(`,{"error":"gone","error_number":2017}]}`)
		return b.Bytes()
	}
	big, small := answer(100_000, 1<<20), answer(500, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write(small)
			return
		}
		w.Write(big)
	}))
	defer srv.Close()
	c, err := newRESTClient(srv.URL, tokPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.retries = 0
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		n    int
		call func() error
	}{
		{"call", 100_000, func() error { return c.call(ctx, http.MethodGet, "/one", nil, nil) }},
		{"list", 100_000, func() error {
			return listOf(ctx, c, "/all", "jobs", func(*struct{}) error { return nil })
		}},
		{"status", 500, func() error { return c.call(ctx, http.MethodGet, "/status", nil, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re, ok := asRESTError(tc.call())
			if !ok {
				t.Fatal("no restError")
			}
			if len(re.errs) > maxListedErrors || cap(re.errs) > maxListedErrors {
				t.Errorf("kept %d entries (capacity %d) of %d; want at most %d", len(re.errs), cap(re.errs), tc.n, maxListedErrors)
			}
			if len(re.errs)+re.more != tc.n {
				t.Errorf("kept %d and counted %d more; want %d in all", len(re.errs), re.more, tc.n)
			}
			for i, a := range re.errs {
				if len(a.Error)+len(a.Description)+len(a.Source) > 3*(maxErrorText+1) {
					t.Errorf("entry %d keeps %d bytes", i, len(a.Error)+len(a.Description)+len(a.Source))
				}
			}
			if !re.has(errInvalidJobID) {
				t.Error("the last entry's number is lost")
			}
			if refusedOutright(re) {
				t.Error("an answer with a communication error taken as refused outright")
			}
			msg := re.Error()
			if strings.Contains(msg, secret[:6]) || !strings.Contains(msg, fmt.Sprintf("(and %d more errors)", re.more)) || len(msg) > maxErrorText+200 {
				t.Errorf("message %d bytes: …%q", len(msg), msg[max(0, len(msg)-120):])
			}
			for _, a := range re.errs {
				if strings.Contains(a.Error+a.Description, secret[:6]) {
					t.Errorf("an entry keeps part of the token: %.80q", a.Error+a.Description)
				}
			}
		})
	}
}

// TestRESTErrorNumbers: what the backend decides on the numbers listed is
// what it decided on the whole list, however long.
func TestRESTErrorNumbers(t *testing.T) {
	refusals := make([]apiError, 1000)
	for i := range refusals {
		refusals[i] = apiError{Error: "no", Number: 2000 + i%50}
	}
	if !refusedOutright(newRESTError("POST", "/p", 200, refusals, nil)) {
		t.Error("a list of refusals only is not taken as refused")
	}
	mixed := append(slices.Clone(refusals), apiError{Error: "timeout", Number: 1007})
	re := newRESTError("POST", "/p", 200, mixed, nil)
	if refusedOutright(re) || !re.auth() {
		t.Errorf("a communication error after 1000 refusals: refused %v, auth %v", refusedOutright(re), re.auth())
	}
	varied := make([]apiError, 1000)
	for i := range varied {
		varied[i] = apiError{Error: "no", Number: 2000 + i}
	}
	if refusedOutright(newRESTError("POST", "/p", 200, varied, nil)) {
		t.Error("a list too varied to keep every number taken as refused")
	}
}

func BenchmarkRESTErrorFromAnAnswer(b *testing.B) {
	errs := make([]apiError, 100_000)
	for i := range errs {
		errs[i] = apiError{Error: "e", Description: "d", Number: 5004}
	}
	b.ReportAllocs()
	for range b.N {
		_ = newRESTError("GET", "/p", 200, errs, nil).Error()
	}
}
