package slurm

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// manyErrors serves, at every path, an answer of status 200 whose errors
// list fills most of maxBody with empty entries, a first one with words
// and a last one that refuses the credentials.
func manyErrors(count int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := bufio.NewWriter(w)
		bw.WriteString(`{"meta":{},"errors":[{"error":"first","error_number":2017},`)
		for range count {
			bw.WriteString(`{},`)
		}
		bw.WriteString(`{"error":"last","error_number":1007}],"jobs":[],"nodes":[]}`)
		bw.Flush()
	})
}

// TestRESTErrorsListReadOneAtATime: an answer's errors list was decoded
// whole before all but its first entries were dropped: an answer of
// maxBody listing millions of empty errors had a poll allocate about
// 800 MB, in a list (GET nodes, jobs) or an answer about one thing (GET
// job). It is now read one entry at a time, keeping the first few, the
// count and the distinct numbers.
func TestRESTErrorsListReadOneAtATime(t *testing.T) {
	const count = (maxBody - 1<<10) / 3
	srv := httptest.NewServer(manyErrors(count))
	defer srv.Close()
	r := plainREST(t, srv.URL)
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"list", func() error {
			return listOf(context.Background(), r.c, apiPath("nodes"), "nodes", func(*struct{}) error { return nil })
		}},
		{"call", func() error {
			return r.c.call(context.Background(), http.MethodGet, apiPath("job", "7"), nil, &struct{}{})
		}},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := c.do()
		runtime.ReadMemStats(&after)
		got := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: an answer of %d errors allocated %d bytes", c.name, count+2, got)
		if got > 8*maxBody {
			t.Errorf("%s: an answer of %d errors allocated %d bytes; want at most %d", c.name, count+2, got, 8*maxBody)
		}
		re, ok := asRESTError(err)
		if !ok {
			t.Fatalf("%s: %v; want the answer's errors", c.name, err)
		}
		if !re.has(errInvalidJobID) || !re.auth() || re.more != count+2-maxListedErrors {
			t.Errorf("%s: error has 2017 %v, auth %v, %d more; want the whole list's numbers and count", c.name, re.has(errInvalidJobID), re.auth(), re.more)
		}
		if msg := err.Error(); !strings.Contains(msg, "HTTP 200: first [2017]") {
			t.Errorf("%s: %q; want the first error", c.name, msg)
		}
	}
}

// TestErrorListRefusesWhatIsNotAList: an errors value that is not a list
// of entries fails the answer, as it did decoded whole; null and [] are
// no errors.
func TestErrorListRefusesWhatIsNotAList(t *testing.T) {
	for in, fails := range map[string]bool{
		`null`: false, `[]`: false, `{}`: true, `"e"`: true, `[1]`: true, `[{"error_number":"x"}]`: true,
	} {
		var env envelope
		err := json.Unmarshal([]byte(`{"errors":`+in+`}`), &env)
		if (err != nil) != fails || env.Errors.n != 0 {
			t.Errorf("errors %s: %v, %d entries; want failure %v", in, err, env.Errors.n, fails)
		}
	}
	var env envelope
	if err := json.Unmarshal([]byte(`{"errors":[{"error":"a","errno":5},{"error_code":6},{}]}`), &env); err != nil || env.Errors.n != 3 || len(env.Errors.first) != 3 {
		t.Fatalf("errors: %v, %+v", err, env.Errors)
	}
	if got := newRESTError("GET", "/p", 200, env.Errors.first, nil).Error(); got != "GET /p: HTTP 200: a [5];  [6]; " {
		t.Errorf("message %q", got)
	}
}

// BenchmarkRESTErrorsList reads a list answer whose errors fill most of
// maxBody.
func BenchmarkRESTErrorsList(b *testing.B) {
	srv := httptest.NewServer(manyErrors((maxBody - 1<<10) / 3))
	defer srv.Close()
	r := plainREST(b, srv.URL)
	b.ReportAllocs()
	for range b.N {
		err := listOf(context.Background(), r.c, apiPath("nodes"), "nodes", func(*struct{}) error { return nil })
		if _, ok := asRESTError(err); !ok {
			b.Fatal(err)
		}
	}
}
