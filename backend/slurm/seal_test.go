package slurm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// syncBuffer is a log destination that several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sealedCommands is a command-path backend of state directory dir/state
// whose record key is in dir/settings (outside the state directory), whose
// sinfo lists node n1 of partition gpu (3 of its 8 h100s free) and whose
// squeue prints squeue for any call.
func sealedCommands(t *testing.T, dir, squeue string, log *syncBuffer) *Slurm {
	t.Helper()
	capacityCommandsIn(t, dir, squeue)
	b, err := New(catalog.BackendSpec{Type: "slurm"}, filepath.Join(dir, "state"),
		RecordKeyFile(filepath.Join(dir, "settings", "slurm-record-key")),
		WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeForged writes the state file rel as a workload running as the
// cluster user can: straight into the state directory.
func writeForged(t *testing.T, b *Slurm, rel, data string) {
	t.Helper()
	p := filepath.Join(b.rec.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCapacityCountsNoForgedRecord: on the command path the state
// directory is written by the cluster's nodes, and a workload runs as the
// cluster user: it wrote a record (handles/ID) naming a job of its own,
// and a capacity poll counted what that job held as the server's own,
// so free. Records are now signed with a key outside the state
// directory; a record without a signature, with one made up, or one of
// the backend's copied to another job's name is ignored, and said so in
// the log. The backend's own record still counts, after a restart too.
func TestCapacityCountsNoForgedRecord(t *testing.T) {
	dir := t.TempDir()
	// Job 7 is the server's, holding 2; jobs 8, 9 and 10 are the
	// workload's, holding 1 each.
	squeue := "7|n1|gres:gpu:h100:2|\n8|n1|gres:gpu:h100:1|\n9|n1|gres:gpu:h100:1|\n10|n1|gres:gpu:h100:1|\n"
	var log syncBuffer
	b := sealedCommands(t, dir, squeue, &log)
	if err := b.rec.record("r1-1", "7"); err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(filepath.Join(b.rec.dir, "handles", "7"))
	if err != nil {
		t.Fatal(err)
	}
	writeForged(t, b, "handles/8", "r2-1\n")
	writeForged(t, b, "handles/9", "r3-1\nhmac-sha256:"+strings.Repeat("ab", 32)+"\n")
	writeForged(t, b, "handles/10", string(own)) // the server's record, under another job's name
	// n1's 3 free and the 2 of job 7: nothing of jobs 8, 9 and 10.
	const want = 5
	got, err := b.Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got[backend.SiteAccelerator] != want {
		t.Errorf("capacity %d; want %d (the workload's jobs, with forged records, are not the server's)", got[backend.SiteAccelerator], want)
	}
	for _, id := range []string{"8", "9", "10"} {
		if p := filepath.Join(b.rec.dir, "handles", id); !strings.Contains(log.String(), p) {
			t.Errorf("the log does not name the forged record %s: %q", p, log.String())
		}
	}

	// After a restart, under the same key: the server's own record
	// still counts, the forged ones still do not.
	again := sealedCommands(t, dir, squeue, &log)
	if got, err := again.Capacity(context.Background()); err != nil || got[backend.SiteAccelerator] != want {
		t.Errorf("capacity after a restart %v, %v; want %d", got, err, want)
	}
}

// TestFindAdoptsNoForgedRecord: a workload wrote the record of an
// attempt's job id (jobs/KEY/jobid) naming a job of its own, and Find
// (and Submit) took that job for the attempt's. The record is now
// ignored, with an error that names it when it is all that is left of
// the attempt; the record the backend writes is still found after a
// restart, and one signed under another key is not.
func TestFindAdoptsNoForgedRecord(t *testing.T) {
	dir := t.TempDir()
	var log syncBuffer
	// squeue lists no job: slurmctld knows none of the attempt's script.
	b := sealedCommands(t, dir, "", &log)
	writeForged(t, b, "jobs/r1-1/jobid", "666\n")
	writeForged(t, b, "handles/666", "r1-1\n")
	id, ok, err := b.Find(context.Background(), "r1", 1)
	if err != nil || ok {
		t.Fatalf("Find with a forged record = %q, %v, %v; want not found", id, ok, err)
	}
	jobid := filepath.Join(b.rec.dir, "jobs", "r1-1", "jobid")
	if !strings.Contains(log.String(), jobid) {
		t.Errorf("the log does not name the forged record %s: %q", jobid, log.String())
	}
	ref, _ := b.rec.parse("666")
	if st, err := b.rec.forgottenStatus("666", ref); !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(b.rec.dir, "handles", "666")) {
		t.Errorf("Status of the forgotten job of a forged record = %+v, %v; want not found, naming the record", st, err)
	}

	// Written by the backend: found, after a restart too.
	if err := b.rec.record("r1-2", "777"); err != nil {
		t.Fatal(err)
	}
	again := sealedCommands(t, dir, "", &log)
	if id, ok, err := again.Find(context.Background(), "r1", 2); err != nil || !ok || id != "777" {
		t.Errorf("Find after a restart = %q, %v, %v; want the recorded job 777", id, ok, err)
	}
	// Under another key, the same records are someone else's (its log of
	// retires kept in settings of its own).
	other, err := New(catalog.BackendSpec{Type: "slurm"}, filepath.Join(dir, "state"), RecordKey(bytes.Repeat([]byte{1}, 32)),
		RecordKeyFile(filepath.Join(dir, "other-settings", "slurm-record-key")))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok, err := other.Find(context.Background(), "r1", 2); err != nil || ok {
		t.Errorf("Find under another key = %q, %v, %v; want not found", id, ok, err)
	}
}

// TestRecordKeyFile: the record key is made 0600 on first use and read
// back the same; a key file others may read, or too short, is refused,
// naming the file.
func TestRecordKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "settings", "slurm-record-key")
	k1, err := LoadRecordKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi, err)
	}
	k2, err := LoadRecordKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("key read back %x, %v; want %x", k2, err, k1)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecordKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("key file of mode 0644: %v; want a refusal naming it", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecordKey(short); err == nil || !strings.Contains(err.Error(), short) {
		t.Errorf("key file of 2 bytes: %v; want a refusal naming it", err)
	}
	if _, err := New(catalog.BackendSpec{Type: "slurm"}, filepath.Join(dir, "state"), RecordKey([]byte("short"))); err == nil {
		t.Error("a record key of 5 bytes was taken")
	}
}
