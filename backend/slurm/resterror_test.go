package slurm

import (
	"runtime"
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
		if got := (&restError{method: "POST", path: "/p", status: 500, errs: errs}).Error(); got != want {
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
