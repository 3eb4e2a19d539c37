package slurm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestCapacityListsNoRecordsOfCleanedJobs: the records of job ids
// (handles/ID) were never removed, so each capacity poll listed one entry
// for every job the server had ever run, its cost growing with the
// server's age. Clean, once no process of an attempt's job runs, moves the
// job's record aside (ended/ID): a poll lists only the records of jobs
// that may still run, and the ended job's status is still read by it.
func TestCapacityListsNoRecordsOfCleanedJobs(t *testing.T) {
	bin, dir := t.TempDir(), t.TempDir()
	for name, script := range map[string]string{
		"sinfo": "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
		// --me: the capacity poll's running jobs, none; -j ID: slurmctld
		// has forgotten every job asked about.
		"squeue": "#!/bin/sh\n[ \"$1\" = --me ] && exit 0\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := New(catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(dir, "work")}, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	listed := func() int {
		t.Helper()
		own, err := newOwnJobs(b.rec)
		if err != nil {
			t.Fatal(err)
		}
		return len(own.recorded)
	}
	// One attempt still running: its record is listed throughout.
	if err := b.rec.record("live-1", "5000"); err != nil {
		t.Fatal(err)
	}
	const polls = 40
	for i := range polls {
		key, id := "r"+strconv.Itoa(i)+"-1", strconv.Itoa(1000+i)
		if err := b.rec.record(key, id); err != nil {
			t.Fatal(err)
		}
		// The job ran, wrote its exit code and was forgotten.
		if err := os.WriteFile(filepath.Join(b.rec.jobDir(key), "exitcode"), []byte("0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := b.Clean(ctx, id); err != nil {
			t.Fatalf("Clean %s: %v", id, err)
		}
		if _, err := b.Capacity(ctx); err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if n := listed(); n != 1 {
			t.Fatalf("poll %d, after %d jobs ended and cleaned up, lists %d records; want 1 (the running job's)", i, i+1, n)
		}
	}
	// An ended job's record still tells its attempt: its status, and
	// Clean again.
	st, err := b.Status(ctx, "1000")
	if err != nil || st.State != backend.Succeeded {
		t.Errorf("Status of a cleaned-up job = %+v, %v; want succeeded", st, err)
	}
	if err := b.Clean(ctx, "1000"); err != nil {
		t.Errorf("Clean again: %v", err)
	}
	if key, _ := b.rec.recorded("r0-1"); key != "1000" || listed() != 1 {
		t.Errorf("recorded(r0-1) = %q, %d records listed; want 1000 and the ended record not written again", key, listed())
	}
}

// TestRESTCapacityListsNoRecordsOfCleanedJobs: as
// TestCapacityListsNoRecordsOfCleanedJobs, over slurmrestd: Clean moves
// aside the record of a job whose final status is kept, but not of one
// read as lost (it may still run on a node that stopped responding).
func TestRESTCapacityListsNoRecordsOfCleanedJobs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		id, ok := strings.CutPrefix(req.URL.Path, apiPath("job")+"/")
		if !ok {
			http.NotFound(w, req)
			return
		}
		n, _ := strconv.Atoi(id)
		run := "r" + strconv.Itoa(n-1000)
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": n, "name": JobName(run, 1), "comment": restComment(run, 1),
			"user_id": os.Getuid(), "submit_time": time.Now().Unix(), "job_state": "COMPLETED", "exit_code": 0}}})
	}))
	defer srv.Close()
	r := capacityREST(t, srv.URL) // job 7 recorded: a running job's
	ctx := context.Background()
	listed := func() int {
		t.Helper()
		own, err := newOwnJobs(r.rec)
		if err != nil {
			t.Fatal(err)
		}
		return len(own.recorded)
	}
	const jobs = 20
	for i := range jobs {
		key, id := "r"+strconv.Itoa(i)+"-1", strconv.Itoa(1000+i)
		if err := r.rec.record(key, id); err != nil {
			t.Fatal(err)
		}
		if st, err := r.Status(ctx, id); err != nil || st.State != backend.Succeeded {
			t.Fatalf("Status %s = %+v, %v; want succeeded", id, st, err)
		}
		if err := r.Clean(ctx, id); err != nil {
			t.Fatalf("Clean %s: %v", id, err)
		}
		if n := listed(); n != 1 {
			t.Fatalf("after %d jobs ended and cleaned up, a poll lists %d records; want 1 (the running job's)", i+1, n)
		}
	}
	if st, err := r.Status(ctx, "1000"); err != nil || st.State != backend.Succeeded {
		t.Errorf("Status of a cleaned-up job = %+v, %v; want succeeded", st, err)
	}
	// A job read as lost keeps its record listed.
	if err := r.rec.record("lost-1", "900"); err != nil {
		t.Fatal(err)
	}
	if err := r.rec.saveFinal("lost-1", backend.Status{State: backend.Lost, Reason: "node down"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Clean(ctx, "900"); err != nil {
		t.Fatal(err)
	}
	if n := listed(); n != 2 {
		t.Errorf("after a lost job's Clean, a poll lists %d records; want 2", n)
	}
}
