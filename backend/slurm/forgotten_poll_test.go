package slurm

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// forgottenJob is a backend over a new state directory holding the
// records and marks of job 777 (attempt r1-1), which the squeue put
// first on PATH no longer knows: a forgotten job that ran and exited 0.
func forgottenJob(tb testing.TB) *Slurm {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	squeue := "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "squeue"), []byte(squeue), 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	state := filepath.Join(dir, "state")
	s, err := New(catalog.BackendSpec{Type: "slurm"}, state)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.rec.record("r1-1", "777"); err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{"job.sh", "started", "exitcode"} {
		if err := os.WriteFile(filepath.Join(state, "jobs", "r1-1", name), []byte("0\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// TestForgottenPollOpensTheStateDirectoryOnce: a poll of a job slurmctld
// no longer knows read its record, its cancel record, its exit code and
// the times of its marks (the start mark, the batch script, the server's
// first look, the exit code), and each read opened the state directory
// again: eight opens a poll. It is now opened once for the poll, and
// each read goes through that one.
func TestForgottenPollOpensTheStateDirectoryOnce(t *testing.T) {
	s := forgottenJob(t)
	var opens atomic.Int64
	orig := openStateRoot
	openStateRoot = func(dir string) (*os.Root, error) {
		opens.Add(1)
		return orig(dir)
	}
	t.Cleanup(func() { openStateRoot = orig })
	for poll := 1; poll <= 2; poll++ {
		opens.Store(0)
		st, err := s.Status(context.Background(), "777")
		if err != nil || st.State != backend.Succeeded || st.Started.IsZero() {
			t.Fatalf("poll %d: Status = %+v, %v; want succeeded, with its start", poll, st, err)
		}
		if n := opens.Load(); n != 1 {
			t.Errorf("poll %d of a forgotten job opened the state directory %d times; want 1", poll, n)
		}
	}
}

// BenchmarkForgottenPollFiles measures what a poll of a forgotten job
// costs but squeue: its handle read and its state told by its records
// and marks, as Status does once squeue says it knows no such job.
func BenchmarkForgottenPollFiles(b *testing.B) {
	s := forgottenJob(b)
	for b.Loop() {
		rec, release := s.rec.held()
		ref, _ := rec.parse("777")
		st, err := rec.forgottenStatus("777", ref)
		release()
		if err != nil || st.State != backend.Succeeded {
			b.Fatalf("forgotten status = %+v, %v", st, err)
		}
	}
}

// BenchmarkForgottenPoll measures one Status of a job slurmctld no
// longer knows, squeue (a shell script that answers "Invalid job id")
// included.
func BenchmarkForgottenPoll(b *testing.B) {
	s := forgottenJob(b)
	ctx := context.Background()
	for b.Loop() {
		if st, err := s.Status(ctx, "777"); err != nil || st.State != backend.Succeeded {
			b.Fatalf("Status = %+v, %v", st, err)
		}
	}
}
