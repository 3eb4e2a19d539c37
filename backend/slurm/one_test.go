package slurm

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// emptyElements serves, at every path, an answer whose list under the
// path's key fills most of maxBody with empty elements before the one
// asked for.
func emptyElements(count int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key, last string
		switch r.URL.Path {
		case apiPath("job", "7"):
			key, last = "jobs", `{"job_id":7,"job_state":"PENDING"}`
		case apiPath("partition", "p"), apiPath("partitions"):
			key, last = "partitions", `{"name":"p","state":"UP","flags":["default"]}`
		case apiPath("ping"):
			key, last = "pings", `{"ping":"UP","status":0}`
		default:
			http.NotFound(w, r)
			return
		}
		bw := bufio.NewWriter(w)
		bw.WriteString(`{"errors":[],"` + key + `":[`)
		for range count {
			bw.WriteString(`{},`)
		}
		bw.WriteString(last + `]}`)
		bw.Flush()
	})
}

// TestRESTAnswersAboutOneThingReadOneElementAtATime: the answers about
// one thing (GET job/{id}, partition/{name}, partitions, ping) are lists
// too, and were decoded whole: an answer of maxBody holding millions of
// empty elements had one Status allocate over a gigabyte. They are now
// read one element at a time, keeping the one asked for.
func TestRESTAnswersAboutOneThingReadOneElementAtATime(t *testing.T) {
	// A quarter of what fits in maxBody: enough that a whole decode
	// grows the heap by tens of MiB (the job by hundreds), few enough to
	// read four times in a few seconds.
	const count = (maxBody - 1<<10) / 12
	srv := httptest.NewServer(emptyElements(count))
	defer srv.Close()
	r := plainREST(t, srv.URL)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		do   func() error
	}{
		// In the order of what each cost decoded whole, least first: the
		// heap grows for each only past what the one before left it.
		{"ping", func() error { return r.Check(ctx) }},
		{"partition", func() error { _, err := r.partitionState(ctx, "p"); return err }},
		{"partitions", func() error { _, _, err := r.capacityPartition(ctx); return err }},
		{"job", func() error { _, err := r.getJob(ctx, "7"); return err }},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := c.do()
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		// What the heap had to grow by: the most held at once, less
		// what it had to spare (the elements read one at a time are
		// garbage at once, but add up to over a gigabyte allocated).
		grew := int64(after.HeapSys) - int64(before.HeapSys)
		t.Logf("%s: an answer of %d elements grew the heap by %d bytes (allocated %d)", c.name, count+1, grew, after.TotalAlloc-before.TotalAlloc)
		if grew > 24<<20 {
			t.Errorf("%s: an answer of %d elements grew the heap by %d bytes; want at most 24 MiB", c.name, count+1, grew)
		}
	}
}
