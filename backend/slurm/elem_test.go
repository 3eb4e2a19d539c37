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

// allocated is how many bytes f allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestRESTJobAllocatedNodesReadOneAtATime: a job's allocated_nodes was
// decoded into a slice of every entry: a job listing millions of empty
// entries within an element's bound (maxBody) had one Status (or one job
// of a Capacity or lookup list) allocate over ten times that. It is read
// one entry at a time now, keeping the names.
func TestRESTJobAllocatedNodesReadOneAtATime(t *testing.T) {
	const count = (maxBody - 1<<10) / 3
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := bufio.NewWriter(w)
		bw.WriteString(`{"errors":[],"jobs":[{"job_id":7,"job_state":"RUNNING","job_resources":{"allocated_nodes":[`)
		for range count {
			bw.WriteString(`{},`)
		}
		bw.WriteString(`{"nodename":"n1"}]}}]}`)
		bw.Flush()
	}))
	defer srv.Close()
	r := plainREST(t, srv.URL)
	var job *apiJob
	var err error
	got := allocated(func() { job, err = r.getJob(context.Background(), "7") })
	if err != nil {
		t.Fatal(err)
	}
	if names := job.nodeNames(); len(names) != 1 || names[0] != "n1" {
		t.Errorf("nodes %q; want n1", names)
	}
	t.Logf("a job of %d allocated nodes allocated %d bytes", count+1, got)
	if got > 6*maxBody {
		t.Errorf("a job of %d allocated nodes allocated %d bytes; want at most %d", count+1, got, 6*maxBody)
	}
}

// TestRESTNodeListsReadInPlace: a node's partitions and state flags were
// decoded into slices: a node listing millions of empty strings within an
// element's bound had Capacity (and Check) allocate over ten times that
// for it. They are read in place now.
func TestRESTNodeListsReadInPlace(t *testing.T) {
	const count = (maxBody - 1<<10) / 6
	empties := strings.Repeat(`"",`, count)
	raw := json.RawMessage(`{"name":"n1","state":"idle","gres":"gpu:2","gres_used":"gpu:0",` +
		`"partitions":[` + empties + `"p"],"state_flags":[` + empties + `"DRAIN"]}`)
	var n capNode
	var in bool
	var err error
	got := allocated(func() {
		var rn restCapNodeJSON
		if err = json.Unmarshal(raw, &rn); err == nil {
			n, in, err = restCapNode(&rn, "p", kindOf("gpu"))
		}
	})
	if err != nil || !in || n.takesJobs || n.total != 2 {
		t.Errorf("restCapNode = %+v, %v, %v; want n1 in p, drained, with 2 GPUs", n, in, err)
	}
	t.Logf("a node of %d partitions and flags allocated %d bytes", 2*count+2, got)
	if got > 4*maxBody {
		t.Errorf("a node of %d partitions and flags allocated %d bytes; want at most %d", 2*count+2, got, 4*maxBody)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case apiPath("ping"):
			w.Write([]byte(`{"errors":[],"pings":[{"ping":"UP","status":0}]}`))
		case apiPath("partition", "p"):
			w.Write([]byte(`{"errors":[],"partitions":[{"name":"p","state":"UP"}]}`))
		case apiPath("nodes"):
			w.Write([]byte(`{"errors":[],"nodes":[` + string(raw) + `]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	r := plainREST(t, srv.URL)
	r.partition, r.gres = "p", "gpu"
	got = allocated(func() { err = r.Check(context.Background()) })
	if err != nil {
		t.Errorf("Check: %v", err)
	}
	t.Logf("Check: a node of %d partitions and flags allocated %d bytes", 2*count+2, got)
	if got > 6*maxBody {
		t.Errorf("Check: a node of %d partitions and flags allocated %d bytes; want at most %d", 2*count+2, got, 6*maxBody)
	}
}

// TestJobStateReadInPlace: a job_state list was decoded whole for its
// first word: millions of words within an element's bound cost over ten
// times its size, for each job of a list. Its first word is read in place
// now.
func TestJobStateReadInPlace(t *testing.T) {
	raw := []byte(`["PENDING",` + strings.Repeat(`"",`, (maxBody-1<<10)/3) + `"REQUEUED"]`)
	var s jobState
	var err error
	got := allocated(func() { err = json.Unmarshal(raw, &s) })
	if err != nil || s != "PENDING" {
		t.Errorf("job_state = %q, %v; want PENDING", s, err)
	}
	if got > 1<<20 {
		t.Errorf("a job_state of %d words allocated %d bytes; want at most 1 MiB", (maxBody-1<<10)/3+2, got)
	}
	for in, want := range map[string]string{`"RUNNING"`: "RUNNING", `[]`: "", `["a","b"]`: "a", `null`: ""} {
		var s jobState
		if err := json.Unmarshal([]byte(in), &s); err != nil || string(s) != want {
			t.Errorf("job_state %s = %q, %v; want %q", in, s, err, want)
		}
	}
	for _, in := range []string{`1`, `[1]`, `{}`} {
		var s jobState
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Errorf("job_state %s = %q, nil; want an error", in, s)
		}
	}
}
