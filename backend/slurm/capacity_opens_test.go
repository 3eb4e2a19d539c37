package slurm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
)

// countStateOpens counts the opens of the state directory (openStateRoot)
// from now to the end of the test.
func countStateOpens(t *testing.T) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	orig := openStateRoot
	openStateRoot = func(dir string) (*os.Root, error) {
		n.Add(1)
		return orig(dir)
	}
	t.Cleanup(func() { openStateRoot = orig })
	return &n
}

// capOwnJobs are the job ids of the server's own running jobs in the
// tests below, besides job 7 (capacityCommands, capacityREST), each
// holding one h100 of node n1.
var capOwnJobs = []string{"8", "9", "10"}

// recordOwnJobs records capOwnJobs as attempts of rec's.
func recordOwnJobs(t *testing.T, rec records) {
	t.Helper()
	for i, id := range capOwnJobs {
		if err := rec.record(fmt.Sprintf("r2-%d", i+1), id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCapacityPollOpensTheStateDirectoryOnce: a capacity poll listed
// the records once, then read the record of each of the server's own
// running jobs and looked for its retired copy, each read opening the
// state directory again: 1 + 2 opens a job, 9 for a poll of four. It is
// now opened once a poll, over slurmrestd and on the command path, and
// every read goes through that one.
func TestCapacityPollOpensTheStateDirectoryOnce(t *testing.T) {
	// n1's 3 free, the 2 of job 7 and the 1 of each other own job.
	want := 3 + 2 + len(capOwnJobs)
	t.Run("command", func(t *testing.T) {
		squeue := "7|n1|gres:gpu:h100:2|\n1000|n1|gres:gpu:h100:1|\n"
		for _, id := range capOwnJobs {
			squeue += id + "|n1|gres:gpu:h100:1|\n"
		}
		b := capacityCommands(t, squeue)
		recordOwnJobs(t, b.rec)
		opens := countStateOpens(t)
		for poll := 1; poll <= 2; poll++ {
			opens.Store(0)
			got, err := b.Capacity(context.Background())
			if err != nil || got[backend.SiteAccelerator] != want {
				t.Fatalf("poll %d: capacity %v, %v; want %d", poll, got, err, want)
			}
			if n := opens.Load(); n != 1 {
				t.Errorf("poll %d of %d own jobs opened the state directory %d times; want 1", poll, 1+len(capOwnJobs), n)
			}
		}
	})
	t.Run("rest", func(t *testing.T) {
		jobs := []string{`{"job_id":7,"job_state":"RUNNING","nodes":"n1","tres_per_node":"gres:gpu:h100:2"}`, `{"job_id":1000,"job_state":"RUNNING","nodes":"n1","tres_per_node":"gres:gpu:h100:1"}`}
		for _, id := range capOwnJobs {
			jobs = append(jobs, `{"job_id":`+id+`,"job_state":"RUNNING","nodes":"n1","tres_per_node":"gres:gpu:h100:1"}`)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case apiPath("partitions"):
				fmt.Fprint(w, `{"errors":[],"partitions":[{"name":"gpu","state":"UP","flags":[]}]}`)
			case apiPath("jobs"):
				fmt.Fprint(w, `{"errors":[],"jobs":[`+strings.Join(jobs, ",")+`]}`)
			case apiPath("nodes"):
				fmt.Fprint(w, `{"errors":[],"nodes":[{"name":"n1","state":"mixed","state_flags":[],"partitions":["gpu"],"gres":"gpu:h100:8","gres_used":"gpu:h100:5"}]}`)
			default:
				http.NotFound(w, r)
			}
		}))
		defer srv.Close()
		r := capacityREST(t, srv.URL)
		recordOwnJobs(t, r.rec)
		opens := countStateOpens(t)
		for poll := 1; poll <= 2; poll++ {
			opens.Store(0)
			got, err := r.Capacity(context.Background())
			if err != nil || got[backend.SiteAccelerator] != want {
				t.Fatalf("poll %d: capacity %v, %v; want %d", poll, got, err, want)
			}
			if n := opens.Load(); n != 1 {
				t.Errorf("poll %d of %d own jobs opened the state directory %d times; want 1", poll, 1+len(capOwnJobs), n)
			}
		}
	})
}

// BenchmarkCapacityOwnJobs measures what a capacity poll costs but the
// site's answers: the records listed, and four own jobs and a stranger
// told apart, through the state directory held as Capacity holds it.
func BenchmarkCapacityOwnJobs(b *testing.B) {
	rec, err := newRecords(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ids := append([]string{"7"}, capOwnJobs...)
	for i, id := range ids {
		if err := rec.record(fmt.Sprintf("r1-%d", i+1), id); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		held, release := rec.held()
		own, err := newOwnJobs(held)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, id := range append(ids, "1000") {
			if own.own(id) {
				n++
			}
		}
		release()
		if n != len(ids) {
			b.Fatalf("%d own jobs; want %d", n, len(ids))
		}
	}
}
