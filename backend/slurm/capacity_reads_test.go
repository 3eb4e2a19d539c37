package slurm

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// countRecordReads counts the state files read (opened) from now to the
// end of the test.
func countRecordReads(t *testing.T) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	orig := readRecordIn
	readRecordIn = func(root *os.Root, rel string, limit int64) ([]byte, error) {
		n.Add(1)
		return orig(root, rel, limit)
	}
	t.Cleanup(func() { readRecordIn = orig })
	return &n
}

// Of the running jobs a poll lists, strangers are the others' (or
// made-up ids), and job 7, the server's own, is listed again and again.
const (
	capStrangers = 20_000
	capOwnAgain  = 2_000
)

// TestCapacityReadsBoundedStateFiles: a capacity poll read the state
// file naming the attempt of each running job that the site listed
// (handles/ID), once per listing: over slurmrestd, every running job of
// the cluster, however many the site said; on the command path, every
// running job of the cluster user, which any workload can make more of.
// A poll listing 20,000 jobs that are not this server's and one of its
// own 2,000 times read 22,000 files. It now lists the directory of
// records once and reads the record of a listed job only when there is
// one, once a poll.
func TestCapacityReadsBoundedStateFiles(t *testing.T) {
	t.Run("rest", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bw := bufio.NewWriter(w)
			defer bw.Flush()
			switch r.URL.Path {
			case apiPath("partitions"):
				bw.WriteString(`{"errors":[],"partitions":[{"name":"gpu","state":"UP","flags":[]}]}`)
			case apiPath("jobs"):
				bw.WriteString(`{"errors":[],"jobs":[`)
				for i := range capStrangers {
					fmt.Fprintf(bw, `{"job_id":%d,"job_state":"RUNNING","nodes":"n1","tres_per_node":"gres:gpu:h100:1"},`, 1000+i)
				}
				for range capOwnAgain {
					bw.WriteString(`{"job_id":7,"job_state":"RUNNING","nodes":"n1","tres_per_node":"gres:gpu:h100:2"},`)
				}
				bw.WriteString(`{"job_id":9,"job_state":"PENDING","nodes":"","tres_per_node":"gres:gpu:h100:4"}]}`)
			case apiPath("nodes"):
				bw.WriteString(`{"errors":[],"nodes":[{"name":"n1","state":"mixed","state_flags":[],"partitions":["gpu"],"gres":"gpu:h100:8","gres_used":"gpu:h100:5"}]}`)
			default:
				http.NotFound(w, r)
			}
		}))
		defer srv.Close()
		r := capacityREST(t, srv.URL)
		reads := countRecordReads(t)
		got, err := r.Capacity(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// n1's 3 free and the 2 of job 7.
		if got[backend.SiteAccelerator] != 5 {
			t.Errorf("capacity %d; want 5", got[backend.SiteAccelerator])
		}
		if n := reads.Load(); n > 2 {
			t.Errorf("a poll listing %d running jobs read %d state files; want at most 2 (the own job's record)", capStrangers+capOwnAgain, n)
		}
	})
	t.Run("command", func(t *testing.T) {
		var squeue strings.Builder
		for i := range capStrangers {
			fmt.Fprintf(&squeue, "%d|n1|gres:gpu:h100:1|\n", 1000+i)
		}
		for range capOwnAgain {
			squeue.WriteString("7|n1|gres:gpu:h100:2|\n")
		}
		b := capacityCommands(t, squeue.String())
		reads := countRecordReads(t)
		got, err := b.Capacity(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got[backend.SiteAccelerator] != 5 {
			t.Errorf("capacity %d; want 5", got[backend.SiteAccelerator])
		}
		if n := reads.Load(); n > 2 {
			t.Errorf("a poll listing %d running jobs read %d state files; want at most 2 (the own job's record)", capStrangers+capOwnAgain, n)
		}
	})
}

// capacityCommandsIn puts, first on PATH, an sinfo that lists node n1 of
// partition gpu (3 of its 8 h100s free) and a squeue that prints squeue
// for any call, in dir/bin.
func capacityCommandsIn(t *testing.T, dir, squeue string) {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "squeue.out"), []byte(squeue), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, script := range map[string]string{
		"sinfo":  "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
		"squeue": "#!/bin/sh\ncat " + filepath.Join(dir, "squeue.out") + "\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// capacityCommands is a command-path backend whose commands are
// capacityCommandsIn's, and whose records say job 7 is its own.
func capacityCommands(t *testing.T, squeue string) *Slurm {
	t.Helper()
	dir := t.TempDir()
	capacityCommandsIn(t, dir, squeue)
	b, err := New(catalog.BackendSpec{Type: "slurm"}, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.rec.record("r1-1", "7"); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCapacityOwnJobAfterItsIdWithALeadingZero: a job id written with a
// leading zero ("007") names no record (slurmctld writes none so), and
// must not hide the record of the id it reads as when that is listed
// after it.
func TestCapacityOwnJobAfterItsIdWithALeadingZero(t *testing.T) {
	b := capacityCommands(t, "007|n1|gres:gpu:h100:4|\n7|n1|gres:gpu:h100:2|\n")
	got, err := b.Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// n1's 3 free and the 2 of job 7, nothing of "007".
	if got[backend.SiteAccelerator] != 5 {
		t.Errorf("capacity %d; want 5", got[backend.SiteAccelerator])
	}
}
