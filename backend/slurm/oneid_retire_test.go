package slurm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// laterListedFor says whether a capacity poll of rec lists a record of a
// later attempt's job of id (handles/ID:KEY).
func laterListedFor(t *testing.T, rec records, id string) bool {
	t.Helper()
	own, err := newOwnJobs(rec)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := jobNumber(id)
	return len(own.later[n]) > 0
}

// TestCleanRetiresALaterAttemptsRecord: the job of attempt r1-2, given
// job id 1000 after attempt r1-1 (handle 1000:r1-2), has its own record
// listed by capacity polls (handles/1000:r1-2) while it may run. Clean of
// its handle, once it has ended, moves that record aside as it does an
// id's own record; r1-1's record of the id stays where it is.
func TestCleanRetiresALaterAttemptsRecord(t *testing.T) {
	bin, dir := t.TempDir(), t.TempDir()
	// slurmctld has forgotten every job asked about.
	squeue := "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "squeue"), []byte(squeue), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := New(catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(dir, "work")}, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.rec.record("r1-1", "1000"); err != nil {
		t.Fatal(err)
	}
	h, err := b.rec.recordHandle("r1-2", "1000")
	if err != nil || h != "1000:r1-2" {
		t.Fatalf("handle of r1-2 = %q, %v; want 1000:r1-2", h, err)
	}
	if !laterListedFor(t, b.rec, "1000") {
		t.Fatal("r1-2's job is not listed for capacity polls")
	}
	if err := os.WriteFile(filepath.Join(b.rec.jobDir("r1-2"), "exitcode"), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(context.Background(), h); err != nil {
		t.Fatalf("Clean %s: %v", h, err)
	}
	if laterListedFor(t, b.rec, "1000") {
		t.Error("r1-2's ended job is still listed for capacity polls after Clean")
	}
	if b.rec.liveKeyOf("1000") != "r1-1" {
		t.Errorf("the id's record names %q after r1-2's Clean; want r1-1, still live", b.rec.liveKeyOf("1000"))
	}
	if st, err := b.Status(context.Background(), h); err != nil || st.State != backend.Succeeded {
		t.Errorf("Status of %s after Clean = %+v, %v; want succeeded", h, st, err)
	}
}

// TestRESTCleanRetiresALaterAttemptsRecord: as
// TestCleanRetiresALaterAttemptsRecord, over slurmrestd: Clean of handle
// 7:r1-2 once its final status is kept moved nothing aside, as the id's
// own record names r1-1.
func TestRESTCleanRetiresALaterAttemptsRecord(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	r := capacityREST(t, srv.URL) // job 7 recorded for r1-1
	h, err := r.rec.recordHandle("r1-2", "7")
	if err != nil || h != "7:r1-2" {
		t.Fatalf("handle of r1-2 = %q, %v; want 7:r1-2", h, err)
	}
	if err := r.rec.saveFinal("r1-2", backend.Status{State: backend.Succeeded}); err != nil {
		t.Fatal(err)
	}
	if err := r.Clean(context.Background(), h); err != nil {
		t.Fatalf("Clean %s: %v", h, err)
	}
	if laterListedFor(t, r.rec, "7") {
		t.Error("r1-2's ended job is still listed for capacity polls after Clean")
	}
	if r.rec.liveKeyOf("7") != "r1-1" {
		t.Errorf("the id's record names %q after r1-2's Clean; want r1-1, still live", r.rec.liveKeyOf("7"))
	}
}

// TestCapacityBoundsLaterAttemptsRecords: a workload, as this backend's
// user, can fill handles with names of later attempts' records
// (ID:KEY), each of whose keys a poll kept, up to maxRecordedJobs of
// them (about a hundred megabytes). More than maxLaterRecords failed the
// poll, so the server's running jobs were counted by none; a poll now
// keeps at most maxLaterRecords keys it does not know, skipping the
// rest, and those it knows (laterSeen) whatever else is there.
func TestCapacityBoundsLaterAttemptsRecords(t *testing.T) {
	rec, err := newRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := maxLaterRecords
	maxLaterRecords = 256
	t.Cleanup(func() { maxLaterRecords = old })
	key := strings.Repeat("r", 64) + "-1"
	handles := filepath.Join(rec.dir, "handles")
	for i := range 4 * maxLaterRecords {
		if err := os.WriteFile(filepath.Join(handles, strconv.Itoa(100000+i)+handleSep+key), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Known to the backend: written by it.
	if h, err := rec.recordHandle("r2-1", "100007"); err != nil || h != "100007" {
		t.Fatalf("recordHandle = %q, %v", h, err)
	}
	rec.laterSeen.add("100003" + handleSep + "r3-1")
	if err := os.WriteFile(filepath.Join(handles, "100003"+handleSep+"r3-1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := newOwnJobs(rec)
	if err != nil {
		t.Fatalf("%d records of later attempts: %v; want the poll answered", 4*maxLaterRecords+1, err)
	}
	kept := 0
	for _, keys := range o.later {
		kept += len(keys)
	}
	if kept > maxLaterRecords+1 {
		t.Errorf("a poll kept %d keys of later attempts' records; want at most %d unknown and the 1 known", kept, maxLaterRecords)
	}
	if k := o.later[100003]; len(k) == 0 || k[0] != "r3-1" {
		t.Errorf("keys of 100003 %q; want the known r3-1 first", k)
	}
}
