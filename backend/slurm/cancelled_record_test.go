package slurm

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestForgedCancelRecordIgnored: once slurmctld has forgotten a job, its
// attempt's state comes from the files in its directory, which a job of
// the cluster user can write: a cancelled record it wrote made a failed
// attempt, or one lost (which the controller places again elsewhere),
// read as cancelled by the site, which ends the run. The record of a
// cancel is now signed; one that does not verify is ignored and logged,
// and the backend's own still reads as cancelled.
func TestForgedCancelRecordIgnored(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "squeue"), []byte("#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var log syncBuffer
	b, err := New(catalog.BackendSpec{Type: "slurm"}, filepath.Join(dir, "state"),
		RecordKeyFile(filepath.Join(dir, "settings", "slurm-record-key")),
		WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	const key, id = "r1-1", "7"
	if err := b.rec.record(key, id); err != nil {
		t.Fatal(err)
	}
	writeForged(t, b, filepath.Join("jobs", key, "exitcode"), "3\n") // the batch script's, on the node
	forged := filepath.Join("jobs", key, "cancelled")
	writeForged(t, b, forged, "2026-12-06T00:00:00Z\n")
	st, err := b.Status(context.Background(), id)
	if err != nil || st.State != backend.Failed || st.ExitCode != 3 {
		t.Errorf("Status with a forged cancel record = %+v, %v; want failed with exit code 3", st, err)
	}
	if p := filepath.Join(b.rec.dir, forged); !strings.Contains(log.String(), p) {
		t.Errorf("the log does not name the forged record %s: %q", p, log.String())
	}
	if err := os.Remove(filepath.Join(b.rec.dir, "jobs", key, "exitcode")); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(context.Background(), id); err != nil || st.State != backend.Lost {
		t.Errorf("Status with a forged cancel record and no exit code = %+v, %v; want lost", st, err)
	}
	// A signature copied from another attempt's record does not verify.
	if err := b.rec.ensureJobDir("r2-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.rec.markCancelled("r2-1"); err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(b.rec.dir, "jobs", "r2-1", "cancelled"))
	if err != nil {
		t.Fatal(err)
	}
	writeForged(t, b, forged, string(other))
	if st, err := b.Status(context.Background(), id); err != nil || st.State != backend.Lost {
		t.Errorf("Status with another attempt's cancel record = %+v, %v; want lost", st, err)
	}

	if err := b.rec.markCancelled(key); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(context.Background(), id); err != nil || st.State != backend.Cancelled {
		t.Errorf("Status of a job this backend cancelled = %+v, %v; want cancelled", st, err)
	}
}
